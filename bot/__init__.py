"""Bamboe's platform-neutral core: domain, commands, scheduling and storage.

Nothing in this package imports a chat platform's SDK; adapters translate platform events
into :mod:`bot.events` dataclasses and call :meth:`bot.core.Core.handle`.
"""
