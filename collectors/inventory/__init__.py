"""inventory collectors."""
