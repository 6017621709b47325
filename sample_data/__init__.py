"""Bundled sample data for ``carbonmap demo`` (see README.md in this folder)."""
