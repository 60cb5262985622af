"""Secrets at rest (issue 17, item 7): tokens in the database are sealed with BAMBOE_SECRET_KEY, the
migration seals what was stored before, a start with a key seals any plaintext left, and
``bamboe secrets rotate`` moves everything to a new key."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from bamboe.runtime import open_app
from bamboe.settings import Settings
from bot.database import create_engine, sqlite_url_for, upgrade
from bot.models import SlackBot, SlackInstallation
from bot.secrets import PREFIX, SecretBox, SecretError, is_sealed, new_key

ROOT = Path(__file__).resolve().parents[1]
OLD, NEW = new_key(), new_key()
TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"


def test_seal_and_unseal():
    box = SecretBox([OLD])
    sealed = box.seal(TOKEN)
    assert sealed.startswith(PREFIX) and TOKEN not in sealed and box.seal(TOKEN) != sealed  # randomised
    assert box.unseal(sealed) == TOKEN
    assert box.unseal("xoxb-plain") == "xoxb-plain"  # stored before encryption: read as it is
    # the longest value slack-sdk's columns allowed still fits the widened column
    assert len(box.seal("x" * 200)) <= 400


def test_several_keys_first_encrypts_all_decrypt():
    old, both = SecretBox([OLD]), SecretBox([NEW, OLD])
    sealed_old = old.seal(TOKEN)
    assert both.unseal(sealed_old) == TOKEN
    rotated = both.reseal(sealed_old)
    assert SecretBox([NEW]).unseal(rotated) == TOKEN
    with pytest.raises(SecretError, match="does not open with any key"):
        old.unseal(rotated)
    with pytest.raises(SecretError, match="does not open"):
        both.unseal(sealed_old[:-4] + "AAAA")  # changed in the database


def test_bad_or_missing_keys_say_what_to_do():
    with pytest.raises(SecretError, match="key 2 in BAMBOE_SECRET_KEY is not a Fernet key"):
        SecretBox([OLD, "abc"])
    assert SecretBox.from_setting(None) is None and SecretBox.from_setting(" ") is None
    assert SecretBox.from_setting(f"{NEW}, {OLD}").key_count == 2
    Fernet(new_key())  # a new key is a valid Fernet key


async def _old_database(path: Path) -> str:
    """A database at the revision before encryption with plaintext tokens in both tables."""
    url = sqlite_url_for(path)
    engine = create_engine(url)
    await upgrade(engine, "0007")
    async with engine.begin() as conn:
        now = datetime(2026, 1, 5)
        common = {"client_id": "1.2", "app_id": "A1", "team_id": "T1", "is_enterprise_install": False}
        await conn.execute(insert(SlackBot.__table__).values(**common, bot_token=TOKEN, installed_at=now))
        await conn.execute(
            insert(SlackInstallation.__table__).values(
                **common, bot_token=TOKEN, user_id="U1", user_token=None, installed_at=now
            )
        )
    await engine.dispose()
    return url


async def _tokens(url: str) -> list[str | None]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        found = list((await conn.execute(select(SlackBot.bot_token))).scalars())
        found += list((await conn.execute(select(SlackInstallation.bot_token, SlackInstallation.user_token))).one())
    await engine.dispose()
    return found


async def test_the_migration_seals_stored_tokens_when_a_key_is_given(tmp_path):
    url = await _old_database(tmp_path / "old.sqlite3")
    engine = create_engine(url)
    await upgrade(engine, secret_box=SecretBox([OLD]))
    await engine.dispose()
    bot_token, installation_token, user_token = await _tokens(url)
    assert is_sealed(bot_token) and is_sealed(installation_token) and user_token is None
    assert SecretBox([OLD]).unseal(bot_token) == TOKEN == SecretBox([OLD]).unseal(installation_token)
    assert TOKEN.encode() not in (tmp_path / "old.sqlite3").read_bytes()


async def test_a_start_with_a_key_seals_what_a_keyless_upgrade_left(tmp_path):
    url = await _old_database(tmp_path / "old.sqlite3")
    engine = create_engine(url)
    await upgrade(engine)  # `bamboe db upgrade` without a key: the tokens stay as they were
    await engine.dispose()
    assert (await _tokens(url))[:2] == [TOKEN, TOKEN]
    async with open_app(Settings(_env_file=None, database_url=url, bamboe_secret_key=OLD)):
        pass
    bot_token, installation_token, _ = await _tokens(url)
    assert SecretBox([OLD]).unseal(bot_token) == TOKEN and is_sealed(installation_token)
    # a start with a key that opens none of them stops with a clear message
    with pytest.raises(SecretError, match="does not open with any key in BAMBOE_SECRET_KEY"):
        async with open_app(Settings(_env_file=None, database_url=url, bamboe_secret_key=NEW)):
            pass


def _bamboe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BAMBOE_", "DATABASE_URL", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bamboe", *args], capture_output=True, text=True, cwd=ROOT, env={**clean, **env},
        timeout=120,
    )


async def test_secrets_rotate_moves_every_token_to_the_first_key(tmp_path):
    url = await _old_database(tmp_path / "old.sqlite3")
    engine = create_engine(url)
    await upgrade(engine, secret_box=SecretBox([OLD]))
    await engine.dispose()

    missing = _bamboe("secrets", "rotate", DATABASE_URL=url)
    assert missing.returncode == 2 and "set BAMBOE_SECRET_KEY" in missing.stderr and "Traceback" not in missing.stderr

    done = _bamboe("secrets", "rotate", DATABASE_URL=url, BAMBOE_SECRET_KEY=f"{NEW},{OLD}")
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 2 secret(s)" in done.stdout
    bot_token, installation_token, _ = await _tokens(url)
    new_only = SecretBox([NEW])
    assert new_only.unseal(bot_token) == TOKEN == new_only.unseal(installation_token)  # the old key can go

    wrong = _bamboe("secrets", "rotate", DATABASE_URL=url, BAMBOE_SECRET_KEY=OLD)
    assert wrong.returncode == 2 and "does not open" in wrong.stderr and "Traceback" not in wrong.stderr


def test_new_key_prints_a_usable_key():
    result = _bamboe("secrets", "new-key")
    assert result.returncode == 0
    assert SecretBox([result.stdout.strip()]).key_count == 1
