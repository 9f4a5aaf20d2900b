"""Commands registered by this module (placeholder until its issue lands)."""
