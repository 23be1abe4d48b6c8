"""The fee ledger: an append-only, double-entry journal in integer fen."""
