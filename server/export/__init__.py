"""Dossier inspector export: the offline, verifiable zip package and its renderings."""
