"""Dossier server: enrollment, verified ingest, immutable storage and the HTTP API."""
