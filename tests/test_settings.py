"""The settings read directly (no pydantic, the common case at start) are exactly what the
pydantic-settings model gives, and what pydantic would convert or refuse goes to that model, with
its error message (bamboe/settings.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bamboe import settings as config
from bamboe.settings import FIELDS, SecretStr, Settings

PREFIXES = ("BAMBOE_", "SLACK_", "TELEGRAM_", "TEAMS_", "MATRIX_", "DATABASE_")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:
    """No setting in the environment, and a working directory without a ``.env`` file."""
    import os

    for name in list(os.environ):
        if name.upper().startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def outcome(make) -> object:
    """Every setting as (type, value), secrets opened; or the error message."""
    try:
        read = make()
    except ValueError as exc:
        return f"error: {exc}"
    values = {}
    for name in FIELDS:
        value = getattr(read, name)
        values[name] = ("secret", value.get_secret_value()) if hasattr(value, "get_secret_value") else (
            type(value).__name__, value)
    return values


def read_directly(**values: object) -> bool:
    return config._read_directly(None, values) is not None


ENVIRONMENTS = [
    {},
    {"BAMBOE_HTTP_PORT": "8080", "DATABASE_URL": "sqlite:///x.sqlite3", "TELEGRAM_BOT_TOKEN": "1:abc"},
    {"bamboe_http_port": "81", "Telegram_Bot_Token": "t"},  # names in any case
    {"BAMBOE_HTTP_PORT": "080"},
    {"BAMBOE_HTTP_PORT": " 80"},
    {"BAMBOE_HTTP_PORT": "8_080"},
    {"BAMBOE_HTTP_PORT": "8080.0"},
    {"BAMBOE_HTTP_PORT": "abc"},
    {"BAMBOE_HTTP_PORT": ""},
    {"BAMBOE_HTTP_PORT": "８０"},
    {"BAMBOE_LEASE_SECONDS": "1"},
    {"BAMBOE_LEASE_SECONDS": "90.25"},
    {"BAMBOE_LEASE_SECONDS": "0.5"},
    {"BAMBOE_LEASE_SECONDS": "1e3"},
    {"BAMBOE_LEASE_SECONDS": "nan"},
    {"BAMBOE_LEASE_SECONDS": "inf"},
    {"TELEGRAM_BOT_TOKEN": "", "DATABASE_URL": "", "TEAMS_OPENID_METADATA_URL": ""},
    {"DATABASE_URL": " sqlite:///x "},
    {"SLACK_SCOPES": "a,b", "NOT_A_SETTING": "1"},
    {"BAMBOE_SECRET_KEY": "k1,k2", "MATRIX_PASSWORD": "p", "MATRIX_USER_ID": "@a:b"},
]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_environment_reads_as_pydantic_reads_it(environ: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        environ.setenv(name, value)
    assert outcome(lambda: Settings(_env_file=None)) == outcome(lambda: config.pydantic_model()(_env_file=None))
    assert outcome(Settings) == outcome(config.pydantic_model())


KEYWORDS = [
    {"bamboe_http_port": 5}, {"bamboe_http_port": "5"}, {"bamboe_http_port": True}, {"bamboe_http_port": 5.0},
    {"bamboe_http_port": None}, {"bamboe_lease_seconds": 2}, {"bamboe_lease_seconds": 0.5},
    {"bamboe_lease_seconds": True}, {"database_url": None}, {"database_url": 3}, {"telegram_bot_token": "t"},
    {"telegram_bot_token": None}, {"bamboe_http_host": None}, {"nonsense": 1},
]


@pytest.mark.parametrize("values", KEYWORDS)
def test_keyword_values_read_as_pydantic_reads_them(environ: pytest.MonkeyPatch, values: dict) -> None:
    environ.setenv("BAMBOE_HTTP_PORT", "9")  # a keyword comes before the environment
    assert outcome(lambda: Settings(_env_file=None, **values)) == outcome(
        lambda: config.pydantic_model()(_env_file=None, **values))


def test_plain_values_are_read_directly_and_the_rest_by_pydantic() -> None:
    assert read_directly(bamboe_http_port="8080", bamboe_lease_seconds="1.5", telegram_bot_token="t")
    assert not read_directly(bamboe_http_port=" 8080")
    assert not read_directly(bamboe_lease_seconds="0.5")
    assert not read_directly(bamboe_http_host=None)


def test_a_dotenv_file_is_read_by_pydantic_settings(environ: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=from-file\nBAMBOE_HTTP_PORT=1234\nexport SLACK_SCOPES='a b'\n"
                                   "OTHER=1\nBARE\n")
    environ.setenv("BAMBOE_HTTP_PORT", "4321")  # the environment comes before the file
    read = Settings()
    assert read.telegram_bot_token == SecretStr("from-file") and read.bamboe_http_port == 4321
    assert read.slack_scopes == "a b"
    assert outcome(Settings) == outcome(config.pydantic_model())
    assert Settings(_env_file=None).telegram_bot_token is None


def test_secrets_stay_out_of_reprs() -> None:
    read = Settings(_env_file=None, telegram_bot_token="123:secret")
    assert "123:secret" not in repr(read) and "telegram_bot_token=SecretStr('**********')" in repr(read)
    assert str(read.telegram_bot_token) == "**********" and not SecretStr("")
    assert Settings(_env_file=None, telegram_bot_token=read.telegram_bot_token).telegram_bot_token == SecretStr("123:secret")


def test_reading_the_settings_directly_imports_no_pydantic() -> None:
    probe = ("import sys; from bamboe.settings import Settings; Settings(_env_file=None, telegram_bot_token='t'); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_settings')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("values, problem", [
    ({"slack_client_id": "1.2", "telegram_bot_token": "1:t"},
     "Slack with several workspaces (OAuth) needs SLACK_CLIENT_SECRET too (SLACK_CLIENT_ID is set"),
    ({"slack_client_secret": "s", "slack_bot_token": "xoxb-1"},
     "Slack with several workspaces (OAuth) needs SLACK_CLIENT_ID too (SLACK_CLIENT_SECRET is set"),
    ({"matrix_homeserver_url": "https://m.example.org", "matrix_access_token": "syt"},
     "Matrix needs MATRIX_USER_ID too"),
    ({"matrix_user_id": "@b:m.example.org", "matrix_password": "p"}, "Matrix needs MATRIX_HOMESERVER_URL too"),
    ({"matrix_homeserver_url": "https://m.example.org", "matrix_user_id": "@b:m.example.org"},
     "Matrix needs MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD too"),
    ({"teams_app_id": "a", "teams_tenant_id": "t"}, "Teams needs TEAMS_APP_PASSWORD too"),
])
def test_a_half_configured_platform_is_a_problem_naming_what_is_missing(values: dict, problem: str) -> None:
    (found,) = Settings(_env_file=None, **values).configuration_problems()
    assert found.startswith(problem)


@pytest.mark.parametrize("values", [
    {},
    {"slack_client_id": "1.2", "slack_client_secret": "s"},
    {"slack_bot_token": "xoxb-1", "telegram_bot_token": "1:t"},
    {"matrix_homeserver_url": "https://m.example.org", "matrix_user_id": "@b:m.example.org", "matrix_password": "p"},
    {"matrix_device_id": "DEV", "matrix_allowed_servers": "*"},  # options alone configure nothing
    {"teams_app_id": "a", "teams_app_password": "p", "teams_tenant_id": "t"},
])
def test_complete_or_absent_platforms_are_no_problem(values: dict) -> None:
    assert Settings(_env_file=None, **values).configuration_problems() == []
