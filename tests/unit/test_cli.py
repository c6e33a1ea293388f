"""The `bazaar` command: migrations, the first admin, and one-line configuration errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bazaar(tmp_path, *args, **env):
    """Run `python -m bazaar ARGS` in `tmp_path` with only the given configuration."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "DB_", "REDIS_", "MEILI_", "JWT_", "BAZAAR_", "NODE_ENV"))
    }
    clean.update({"PYTHONPATH": ROOT, "BCRYPT_ROUNDS": "4", **env})
    return subprocess.run(
        [sys.executable, "-m", "bazaar", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_applies_every_migration_once_and_rolls_back_the_latest(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    migrations = sorted(
        name.removesuffix(".py")
        for name in os.listdir(os.path.join(ROOT, "bazaar", "infra", "migrations"))
        if name[:3].isdigit() and name.endswith(".py")
    )
    assert migrations[:2] == ["001_initial", "002_search"]
    first = bazaar(tmp_path, "migrate", DATABASE_URL=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "applied: " + ", ".join(migrations)
    again = bazaar(tmp_path, "migrate", DATABASE_URL=url)
    assert again.stdout.strip() == "database is up to date"
    back = bazaar(tmp_path, "migrate", "--rollback", DATABASE_URL=url)
    assert back.stdout.strip() == f"rolled back {migrations[-1]}"
    assert bazaar(tmp_path, "migrate", DATABASE_URL=url).stdout.strip() == f"applied: {migrations[-1]}"


def test_an_unparsable_database_url_exits_2_with_one_line_and_no_traceback(tmp_path):
    result = bazaar(tmp_path, "migrate", DATABASE_URL="mysql://nope")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("bazaar: configuration error: DATABASE_URL")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("stage", [{"BAZAAR_ENV": "production"}, {"NODE_ENV": "production"}])
def test_production_refuses_the_default_jwt_secret(tmp_path, stage):
    result = bazaar(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", **stage)
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr


def test_create_admin_makes_an_admin_from_the_environment_password(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    result = bazaar(
        tmp_path,
        "create-admin",
        "--username",
        "root",
        "--email",
        "Root@Example.test",
        DATABASE_URL=url,
        BAZAAR_ADMIN_PASSWORD="a-long-admin-password",
    )
    assert result.returncode == 0, result.stderr
    assert "created admin root" in result.stdout
    rows = sqlite3.connect(tmp_path / "shop.db").execute(
        "SELECT username, email, role, password_hash FROM users"
    )
    ((username, email, role, password_hash),) = rows.fetchall()
    assert (username, email, role) == ("root", "root@example.test", "admin")
    assert "a-long-admin-password" not in password_hash


def test_create_admin_refuses_a_taken_username_and_a_short_password(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    env = {"DATABASE_URL": url, "BAZAAR_ADMIN_PASSWORD": "a-long-admin-password"}
    assert (
        bazaar(tmp_path, "create-admin", "--username", "root", "--email", "a@example.test", **env).returncode
        == 0
    )
    taken = bazaar(tmp_path, "create-admin", "--username", "ROOT", "--email", "b@example.test", **env)
    assert taken.returncode == 1
    assert "already taken" in taken.stderr
    short = bazaar(
        tmp_path,
        "create-admin",
        "--username",
        "other",
        "--email",
        "c@example.test",
        DATABASE_URL=url,
        BAZAAR_ADMIN_PASSWORD="short",
    )
    assert short.returncode == 1
    assert "password" in short.stderr
    assert "Traceback" not in taken.stderr + short.stderr


def test_the_env_file_in_the_working_directory_configures_the_command(tmp_path):
    (tmp_path / ".env").write_text(
        f"DATABASE_URL=sqlite:///{tmp_path / 'from-env-file.db'}\n"
        "BAZAAR_ADMIN_PASSWORD=a-long-admin-password\n"
    )
    result = bazaar(tmp_path, "create-admin", "--username", "root", "--email", "root@example.test")
    assert result.returncode == 0, result.stderr
    rows = sqlite3.connect(tmp_path / "from-env-file.db").execute("SELECT username, role FROM users")
    assert rows.fetchall() == [("root", "admin")]


def test_a_bad_value_in_the_env_file_exits_2_with_one_line(tmp_path):
    (tmp_path / ".env").write_text("DB_POOL_TIMEOUT_S=soon\n")
    result = bazaar(tmp_path, "migrate")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("bazaar: configuration error: DB_POOL_TIMEOUT_S")
    assert len(result.stderr.strip().splitlines()) == 1
