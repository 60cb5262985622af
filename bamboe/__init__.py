"""Bamboe's command line and composition root (builds the core and the adapters from settings)."""

__version__ = "0.1.0"
