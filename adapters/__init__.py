"""Adapters: translate platform events to the core's dataclasses and the core's messages back."""
