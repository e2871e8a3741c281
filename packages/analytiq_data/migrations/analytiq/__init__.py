"""Machinery shared by Analytiq's four migrations: document shapes and the undo journal."""
