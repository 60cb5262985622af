"""Secrets at rest: tokens an adapter keeps in the database are stored encrypted.

A :class:`SecretBox` is built from ``BAMBOE_SECRET_KEY`` (one or more Fernet keys, comma-separated):
the first key encrypts, every key decrypts, so a key is rotated by putting a new one in front,
re-encrypting (``bamboe secrets rotate``) and then dropping the old one. Fernet (from
``cryptography``) is AES-128-CBC with an HMAC-SHA256 over the whole token, so a value changed in the
database fails to open instead of yielding garbage.

A sealed value is ``fernet:`` followed by the Fernet token; anything without that prefix is a
plaintext value written before encryption was turned on (read as it is, and sealed at the next
start). ``cryptography`` is imported when a box is made, so a start without a key never loads it.
Columns that hold secrets are marked ``info=SEALED`` in their model; :func:`seal_all` walks
them (at start, in the migration, for rotation). An adapter uses the box directly (``seal`` /
``unseal``) or gives a column the :class:`Sealed` type built with its box. There is no module-level
key: the composition root or the adapter's factory builds the box from settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, String, Table, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

#: what starts a sealed value in the database
PREFIX = "fernet:"
#: ``info`` of a model column that holds a secret (sealed at rest)
SEALED = {"sealed": True}
#: the setting that holds the key(s)
KEY_SETTING = "BAMBOE_SECRET_KEY"
NEW_KEY_HINT = (
    "generate one with `bamboe secrets new-key` (or: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
)


class SecretError(ValueError):
    """A key is missing or malformed, or a stored secret does not open with any configured key."""


def new_key() -> str:
    """A fresh random key for ``BAMBOE_SECRET_KEY``."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def is_sealed(value: str | None) -> bool:
    """True when ``value`` is an encrypted value (not plaintext, not None)."""
    return value is not None and value.startswith(PREFIX)


class SecretBox:
    """Encrypts and decrypts secrets with one or more keys (the first one encrypts)."""

    def __init__(self, keys: Sequence[str]) -> None:
        from cryptography.fernet import Fernet, MultiFernet

        keys = [k.strip() for k in keys if k and k.strip()]
        if not keys:
            raise SecretError(f"{KEY_SETTING} holds no key; {NEW_KEY_HINT}")
        fernets = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                raise SecretError(
                    f"key {number} in {KEY_SETTING} is not a Fernet key (32 url-safe base64-encoded bytes); "
                    f"{NEW_KEY_HINT}"
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def from_setting(cls, value: str | None) -> SecretBox | None:
        """The box for a ``BAMBOE_SECRET_KEY`` value (comma-separated keys), or None when unset."""
        if value is None or not value.strip():
            return None
        return cls(value.split(","))

    def seal(self, plaintext: str) -> str:
        """``plaintext`` encrypted with the first key."""
        return PREFIX + self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def unseal(self, stored: str) -> str:
        """The plaintext of a stored value; a value stored before encryption is returned as it is.

        Raises :class:`SecretError` when no configured key opens it (wrong key, or changed)."""
        from cryptography.fernet import InvalidToken

        if not is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretError(
                f"a stored secret does not open with any key in {KEY_SETTING} "
                "(was the key that sealed it removed? put it back after the new one and run `bamboe secrets rotate`)"
            ) from None

    def reseal(self, stored: str) -> str:
        """``stored`` (sealed with any key, or plaintext) sealed with the first key."""
        return self.seal(self.unseal(stored))


class Sealed(TypeDecorator[str]):
    """A string column whose values are sealed by ``box`` on the way in and opened on the way out.

    For tables an adapter or a library builds itself (the box is given per column, never global)."""

    impl = String
    cache_ok = True

    def __init__(self, box: SecretBox, length: int | None = None) -> None:
        super().__init__(length)
        self.box = box

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        """Seal on the way in (an already sealed value is kept)."""
        if value is None or is_sealed(value):
            return value
        return self.box.seal(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        """Open on the way out."""
        return None if value is None else self.box.unseal(value)


@dataclass(frozen=True)
class Resealed:
    """What :func:`seal_all` did: values sealed from plaintext and values re-encrypted."""

    sealed: int = 0
    rotated: int = 0


def sealed_columns(metadata: MetaData) -> list[tuple[Table, list[str]]]:
    """Every table with columns marked ``info=SEALED``, with the names of those columns."""
    found = []
    for table in metadata.sorted_tables:
        names = [c.name for c in table.columns if c.info.get("sealed")]
        if names:
            found.append((table, names))
    return found


def seal_all(connection: Connection, box: SecretBox, tables: Iterable[tuple[Table, list[str]]], *,
             rotate: bool = False) -> Resealed:
    """Seal every plaintext secret in ``tables``; with ``rotate`` also re-encrypt the sealed ones
    with the first key. Checks that every sealed value opens (raises :class:`SecretError` if not).

    Runs on a synchronous connection (``AsyncConnection.run_sync``, or a migration's)."""
    sealed = rotated = 0
    for table, names in tables:
        key = list(table.primary_key.columns)
        rows = connection.execute(select(*key, *(table.c[n] for n in names))).mappings().all()
        for row in rows:
            changes: dict[str, str] = {}
            for name in names:
                value = row[name]
                if value is None:
                    continue
                if not is_sealed(value):
                    changes[name] = box.seal(value)
                    sealed += 1
                elif rotate:
                    changes[name] = box.reseal(value)
                    rotated += 1
                else:
                    box.unseal(value)  # fail now, at start, rather than at the first message
            if changes:
                where = [c == row[c.name] for c in key]
                connection.execute(update(table).where(*where).values(**changes))
    return Resealed(sealed, rotated)
