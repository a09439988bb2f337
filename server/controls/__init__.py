"""Controls: framework catalogs, checks over collector facts, evaluation and changes."""
