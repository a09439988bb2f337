"""access collectors."""
