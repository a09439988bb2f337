"""Collectors: pure functions of a `Host` that return evidence records."""
