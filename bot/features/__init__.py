"""The bot's features. Each module exposes one :class:`~bot.registry.Feature` value, ``FEATURE``,
and changes nothing when imported; the composition root (``bamboe/features.py``) lists them."""
