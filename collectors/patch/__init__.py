"""patch collectors."""
