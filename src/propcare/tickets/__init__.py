"""Tickets: every call, visit and patrol finding, tracked to the end and called back."""
