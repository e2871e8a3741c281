"""Versioned, reversible migrations: the public face (filled in by the engine work)."""
