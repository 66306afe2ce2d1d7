"""Pieces of opscore/settings.py, each a concern of its own; settings imports them by name."""
