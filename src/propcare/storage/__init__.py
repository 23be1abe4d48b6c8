"""Storage: ports (Protocols) and the built-in SQLite backend."""
