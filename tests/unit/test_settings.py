"""SPEC §10: settings from the environment and `.env`, embedded defaults, one-line errors; every setting
declared once (config/settings.py) and listed with its default in `.env.example`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from config import Settings, SettingsError, load_settings
from config.settings import DEFAULT_JWT_SECRET, DEFAULT_SQLITE_URL, variable_names

ROOT = Path(__file__).resolve().parents[2]

STRONG_SECRET = "a-production-secret-0123456789abcdef"


def settings_from(env_file=None, **environ):
    return load_settings(environ, env_file=env_file)


def test_nothing_set_means_the_embedded_default():
    settings = settings_from()
    assert settings.database_url == DEFAULT_SQLITE_URL
    assert settings.db_kind == "sqlite"
    assert settings.redis_url is None and settings.meili_url is None
    assert settings.embedded
    assert settings.port == 3000
    assert settings.jwt_expires_in_s == 15 * 60
    assert settings.refresh_expires_in_s == 7 * 24 * 3600
    assert settings.cors_origins == ("http://localhost:3001",)
    assert settings.worker_count == 1
    assert "embedded" in settings.mode_description()


def test_database_url_selects_postgresql():
    settings = settings_from(
        DATABASE_URL="postgresql://app:pw@db.internal:5433/bazaar", REDIS_URL="redis://r:6379/0"
    )
    assert settings.db_kind == "postgresql"
    assert not settings.embedded
    assert settings.worker_count == 2


def test_db_parts_compose_a_postgresql_url():
    settings = settings_from(
        DB_HOST="db.internal",
        DB_PORT="5433",
        DB_USERNAME="app",
        DB_PASSWORD="p@ss:word/1",
        DB_DATABASE="shop",
    )
    assert settings.database_url == "postgresql://app:p%40ss%3Aword%2F1@db.internal:5433/shop"


def test_db_parts_have_defaults_for_all_but_the_host():
    assert (
        settings_from(DB_HOST="db.internal").database_url
        == "postgresql://postgres@db.internal:5432/stream_bazaar"
    )


def test_database_url_wins_over_db_parts():
    settings = settings_from(DATABASE_URL="postgresql://a@h1:5432/one", DB_HOST="h2", DB_DATABASE="two")
    assert settings.database_url == "postgresql://a@h1:5432/one"


def test_a_sqlite_url_names_the_file():
    assert settings_from(DATABASE_URL="sqlite:////var/lib/bazaar.db").sqlite_path == "/var/lib/bazaar.db"


@pytest.mark.parametrize(
    "url",
    [
        "mysql://user@host/db",
        "postgresql://",
        "postgresql://host:99999/db",
        "postgresql://host:port/db",
        "postgresql://host:5432",
        "not a url at all",
    ],
)
def test_an_unparsable_database_url_is_a_one_line_settings_error(url):
    with pytest.raises(SettingsError) as error:
        settings_from(DATABASE_URL=url)
    message = str(error.value)
    assert "DATABASE_URL" in message
    assert "\n" not in message


def test_a_bad_db_port_is_a_settings_error():
    with pytest.raises(SettingsError, match="DB_PORT"):
        settings_from(DB_HOST="h", DB_PORT="five")


@pytest.mark.parametrize("stage_variable", ["BAZAAR_ENV", "NODE_ENV"])
def test_production_refuses_the_default_jwt_secret(stage_variable):
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        settings_from(**{stage_variable: "production"})
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        settings_from(**{stage_variable: "production", "JWT_SECRET": DEFAULT_JWT_SECRET})


def test_production_refuses_a_jwt_secret_under_32_bytes():
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        settings_from(BAZAAR_ENV="production", JWT_SECRET="x" * 31)


def test_production_starts_with_a_real_secret():
    settings = settings_from(NODE_ENV="Production", JWT_SECRET=STRONG_SECRET)
    assert settings.env == "production"
    assert settings.jwt_secret == STRONG_SECRET


def test_development_accepts_the_default_secret():
    assert settings_from().jwt_secret == DEFAULT_JWT_SECRET


@pytest.mark.parametrize(
    "value, seconds", [("900", 900), ("15m", 900), ("1h", 3600), ("7d", 604800), ("30s", 30), (" 2h ", 7200)]
)
def test_jwt_expires_in_accepts_seconds_and_units(value, seconds):
    assert settings_from(JWT_EXPIRES_IN=value).jwt_expires_in_s == seconds


@pytest.mark.parametrize("value", ["0", "-5", "15 minutes", "1w", "500ms", "abc", "1.5h"])
def test_jwt_expires_in_refuses_other_forms(value):
    with pytest.raises(SettingsError, match="JWT_EXPIRES_IN"):
        settings_from(JWT_EXPIRES_IN=value)


@pytest.mark.parametrize(
    "name, value",
    [
        ("PORT", "http"),
        ("PORT", "0"),
        ("REDIS_URL", "localhost:6379"),
        ("MEILI_URL", "ftp://search"),
        ("BCRYPT_ROUNDS", "2"),
    ],
)
def test_bad_values_name_their_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        settings_from(**{name: value})


def test_cors_origin_is_split_on_commas():
    settings = settings_from(CORS_ORIGIN=" https://shop.example , http://localhost:3001/,,")
    assert settings.cors_origins == ("https://shop.example", "http://localhost:3001")


def test_empty_variables_count_as_unset():
    settings = settings_from(PORT="", DATABASE_URL="  ", REDIS_URL="")
    assert settings.port == 3000
    assert settings.embedded


def test_the_env_file_is_read(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=4100\nJWT_EXPIRES_IN=1h\nCORS_ORIGIN=https://a.example,https://b.example\n")
    settings = settings_from(env_file=str(env_file))
    assert settings.port == 4100
    assert settings.jwt_expires_in_s == 3600
    assert settings.cors_origins == ("https://a.example", "https://b.example")


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=4100\nDATABASE_URL=postgresql://file@h:5432/db\n")
    settings = settings_from(env_file=str(env_file), PORT="4200")
    assert settings.port == 4200
    assert settings.database_url == "postgresql://file@h:5432/db"


def test_a_missing_env_file_is_fine(tmp_path):
    assert settings_from(env_file=str(tmp_path / "absent.env")).port == 3000


def test_a_bad_value_in_the_env_file_is_a_settings_error(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=mongodb://nope\n")
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        settings_from(env_file=str(env_file))


NUMERIC_FIELDS = [
    name
    for name, value in Settings().model_dump().items()
    if isinstance(value, int | float) and not isinstance(value, bool)
]


@pytest.mark.parametrize("field", NUMERIC_FIELDS)
def test_every_numeric_setting_is_read_from_its_variable(field):
    (variable, *_) = variable_names(field)
    changed = getattr(Settings(), field) + 1
    assert getattr(settings_from(**{variable: str(changed)}), field) == changed


def test_settings_read_from_variables_of_other_names():
    settings = settings_from(
        WEB_CONCURRENCY="3",
        JWT_REFRESH_EXPIRES_IN="1d",
        AGORA_TOKEN_EXPIRY="60",
        BAZAAR_ADMIN_PASSWORD="a-long-admin-password",
        SELLERS="Approved",
        CURRENCY="eur",
        LOG_LEVEL="DEBUG",
    )
    assert settings.workers == settings.worker_count == 3
    assert settings.refresh_expires_in_s == 86400
    assert settings.agora_token_expiry_s == 60
    assert settings.admin_password == "a-long-admin-password"
    assert (settings.sellers, settings.currency, settings.log_level) == ("approved", "EUR", "debug")


def test_bazaar_env_wins_over_node_env():
    assert settings_from(BAZAAR_ENV="staging", NODE_ENV="production").env == "staging"


def test_several_bad_values_are_reported_on_one_line():
    with pytest.raises(SettingsError) as error:
        settings_from(PORT="0", CHAT_MAX_CHARS="many", MEILI_TIMEOUT_S="-1")
    message = str(error.value)
    assert "\n" not in message
    assert all(name in message for name in ("PORT", "CHAT_MAX_CHARS", "MEILI_TIMEOUT_S"))


def test_a_secret_is_not_echoed_in_an_error():
    with pytest.raises(SettingsError) as error:
        settings_from(BAZAAR_ENV="production", JWT_SECRET="short-but-secret")
    assert "short-but-secret" not in str(error.value)


def test_overrides_are_validated_and_named_by_field():
    settings = Settings().with_overrides(redis_url="redis://127.0.0.1:6379/0", chat_rate_count=2)
    assert (settings.embedded, settings.chat_rate_count) == (False, 2)
    with pytest.raises(ValidationError):
        Settings().with_overrides(chat_rate_count=0)
    with pytest.raises(TypeError, match="chat_rate_cuont"):
        Settings().with_overrides(chat_rate_cuont=2)


# `# NAME=value  # comment` or `NAME=value`: the example's listing of one variable with its default.
EXAMPLE_LINE = re.compile(r"^#?\s?([A-Z][A-Z0-9_]*)=(\S*)")


def example_defaults() -> dict[str, str]:
    listed: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = EXAMPLE_LINE.match(line)
        if match:
            assert match.group(1) not in listed, f"{match.group(1)} is listed twice in .env.example"
            listed[match.group(1)] = match.group(2)
    return listed


def test_env_example_lists_every_setting_and_nothing_else():
    listed = set(example_defaults())
    declared = {variable_names(field)[0] for field in Settings.model_fields}
    assert sorted(declared - listed) == [], "settings missing from .env.example"
    assert sorted(listed - declared) == [], ".env.example lists variables that are not settings"


@pytest.mark.parametrize("variable, value", sorted(example_defaults().items()))
def test_env_example_shows_each_default(variable, value):
    field = next(field for field in Settings.model_fields if variable_names(field)[0] == variable)
    default = getattr(Settings(), field)
    if value == "":
        assert default is None
    else:
        assert getattr(settings_from(**{variable: value}), field) == default
