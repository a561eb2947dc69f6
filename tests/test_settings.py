"""Settings from the environment: development generates its secrets, production (the
default) refuses to start without them. Each case runs manage.py in a child process, as a
user would, on Lumen's own settings (not the test-suite's, which turn DEBUG on)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DJANGO_SECRET_KEY",
            "FIELD_ENCRYPTION_KEY",
            "AUDIT_CHAIN_KEY",
            "DEBUG",
            "DATABASE_URL",
            "DJANGO_SETTINGS_MODULE",
            "STRIPE_API_BASE",
        )
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def development(tmp_path, **env):
    return {"DEBUG": "true", "LUMEN_VAR_DIR": str(tmp_path), **env}


def production(tmp_path, **env):
    return {
        "DEBUG": "False",
        "LUMEN_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": Fernet.generate_key().decode() * 2,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "AUDIT_CHAIN_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "lumen.example.com",
        **env,
    }


def setting(name, env):
    """The value of one setting as a process started with `env` sees it."""
    code = f"from django.conf import settings; print(repr(getattr(settings, {name!r}, None)))"
    result = manage("shell", "-v", "0", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_it_generates_development_secrets_once_with_mode_0600(tmp_path):
    first = manage("check", env=development(tmp_path))
    assert first.returncode == 0, first.stderr
    files = [
        tmp_path / "django_secret_key",
        tmp_path / "field_encryption_key",
        tmp_path / "audit_chain_key",
    ]
    contents = [f.read_text() for f in files]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    Fernet(contents[1].strip())  # a usable encryption key
    assert len(contents[2].strip()) >= 32

    again = manage("check", env=development(tmp_path))
    assert again.returncode == 0
    assert [f.read_text() for f in files] == contents


def test_reading_the_settings_creates_no_folder(tmp_path):
    """var/ comes into being with what is written into it (a generated secret, the SQLite
    database), not whenever a command reads the settings, its help included."""
    var = tmp_path / "var"
    assert manage("help", env=production(tmp_path, LUMEN_VAR_DIR=str(var))).returncode == 0
    assert not var.exists()
    opened = manage(
        "check", "--database", "default", env=production(tmp_path, LUMEN_VAR_DIR=str(var))
    )
    assert opened.returncode == 0, opened.stderr
    assert (var / "lumen.sqlite3").exists()


def test_debug_is_off_unless_asked_for(tmp_path):
    """A deployment that forgets DEBUG gets production: no generated secrets, no start."""
    result = manage("check", env={"LUMEN_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "django_secret_key").exists()
    assert setting("DEBUG", production(tmp_path, DEBUG="")) == "False"


def test_production_refuses_to_start_without_its_secrets(tmp_path):
    result = manage("check", env={"DEBUG": "False", "LUMEN_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "django_secret_key").exists()


def test_production_refuses_to_start_without_the_encryption_key(tmp_path):
    env = {"DEBUG": "False", "LUMEN_VAR_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "x" * 60}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_production_refuses_to_start_without_the_audit_chain_key(tmp_path):
    env = {
        "DEBUG": "False",
        "LUMEN_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "x" * 60,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "AUDIT_CHAIN_KEY is not set" in result.stderr
    assert not (tmp_path / "audit_chain_key").exists()


def test_a_short_audit_chain_key_is_refused(tmp_path):
    env = {"DEBUG": "true", "LUMEN_VAR_DIR": str(tmp_path), "AUDIT_CHAIN_KEY": "short"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "AUDIT_CHAIN_KEY must be at least 32 characters long" in result.stderr


def test_production_passes_the_deploy_check(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_warns_of_a_weak_secret_key(tmp_path):
    # Long enough for Django's own check (security.W009), but a word typed over and over.
    typed = production(tmp_path, DJANGO_SECRET_KEY="lumen-portal-" * 5)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=typed)
    assert result.returncode != 0
    assert "lumen.W001" in result.stderr and "fewer than 20 different characters" in result.stderr
    assert "lumen-portal-" not in result.stderr  # the warning does not print the key

    for weak in ("short-but-random-Zx81", "django-insecure-" + "k3Jx9QpL2m" * 5):
        result = manage(
            "check", "--deploy", "--fail-level", "WARNING",
            env=production(tmp_path, DJANGO_SECRET_KEY=weak),
        )  # fmt: skip
        assert result.returncode != 0
        assert "security.W009" in result.stderr


def test_production_talks_to_stripe_itself_unless_told_otherwise(tmp_path):
    assert setting("STRIPE_API_BASE", production(tmp_path)) == "'https://api.stripe.com'"

    plain = manage("check", env=production(tmp_path, STRIPE_API_BASE="http://127.0.0.1:12111"))
    assert plain.returncode != 0
    assert "STRIPE_API_BASE must be an https:// address with DEBUG off" in plain.stderr

    other = production(tmp_path, STRIPE_API_BASE="https://stripe-egress.example.com")
    refused = manage("check", env=other)
    assert refused.returncode != 0
    assert "set LUMEN_ALLOW_OTHER_STRIPE_API_BASE=true" in refused.stderr

    allowed = {**other, "LUMEN_ALLOW_OTHER_STRIPE_API_BASE": "true"}
    assert setting("STRIPE_API_BASE", allowed) == "'https://stripe-egress.example.com'"
    still_plain = {**allowed, "STRIPE_API_BASE": "http://stripe-egress.example.com"}
    assert manage("check", env=still_plain).returncode != 0

    # Development may point it at the emulator over plain http.
    emulator = development(tmp_path, STRIPE_API_BASE="http://127.0.0.1:12111")
    assert setting("STRIPE_API_BASE", emulator) == "'http://127.0.0.1:12111'"


def test_the_forwarded_protocol_is_trusted_only_behind_a_proxy(tmp_path):
    assert setting("SECURE_PROXY_SSL_HEADER", production(tmp_path)) == "None"
    behind = production(tmp_path, LUMEN_BEHIND_PROXY="true")
    assert setting("SECURE_PROXY_SSL_HEADER", behind) == "('HTTP_X_FORWARDED_PROTO', 'https')"
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=behind)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_boolean_is_a_clear_error(tmp_path):
    result = manage("check", env=development(tmp_path, DEBUG="maybe"))
    assert result.returncode != 0
    assert "DEBUG must be True or False" in result.stderr


def test_every_model_change_has_its_migration(tmp_path):
    result = manage("makemigrations", "--check", "--dry-run", env=development(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_report_time_zone_that_does_not_exist_is_refused(tmp_path):
    result = manage("check", env=development(tmp_path, LUMEN_REPORT_TIMEZONE="Mars/Olympus"))
    assert result.returncode != 0
    assert "LUMEN_REPORT_TIMEZONE must be a time zone name" in result.stderr


def test_the_default_sqlite_database_logs_ahead_and_checkpoints_in_large_steps(tmp_path):
    """WAL (readers never wait for a writer), commits that do not fsync, and a checkpoint
    every 20,000 pages rather than 1,000 (a sync's speed, bench/sync.py)."""
    code = (
        "from django.db import connection as c; cur = c.cursor(); "
        "print([cur.execute(f'PRAGMA {p}').fetchone()[0] for p in "
        "('journal_mode', 'synchronous', 'wal_autocheckpoint', 'journal_size_limit')])"
    )
    result = manage("shell", "-v", "0", "-c", code, env=development(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['wal', 1, 20000, 67108864]"
