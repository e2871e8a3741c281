"""Small migration lists the engine's tests run against real servers (nothing Analytiq-specific)."""
