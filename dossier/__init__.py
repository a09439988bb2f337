"""The `dossier` command line."""
