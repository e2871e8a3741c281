"""Database copies that can be trusted: plan, copy, verify (filled in by the backup work)."""
