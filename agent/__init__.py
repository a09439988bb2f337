"""Dossier agent: scheduled collection, signing, durable spool and shipping."""
