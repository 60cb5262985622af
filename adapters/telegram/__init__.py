"""Telegram adapter: python-telegram-bot Application with long polling or a webhook."""
