"""Settings from the environment: development generates its secrets, production refuses to
start without them. Each case runs manage.py in a child process, as a user would."""

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


def test_it_generates_development_secrets_once_with_mode_0600(tmp_path):
    first = manage("check", env={"LUMEN_VAR_DIR": str(tmp_path)})
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

    again = manage("check", env={"LUMEN_VAR_DIR": str(tmp_path)})
    assert again.returncode == 0
    assert [f.read_text() for f in files] == contents


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
    result = manage("check", env={"LUMEN_VAR_DIR": str(tmp_path), "AUDIT_CHAIN_KEY": "short"})
    assert result.returncode != 0
    assert "AUDIT_CHAIN_KEY must be at least 32 characters long" in result.stderr


def test_production_passes_the_deploy_check(tmp_path):
    env = {
        "DEBUG": "False",
        "LUMEN_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": Fernet.generate_key().decode() * 2,
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "AUDIT_CHAIN_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "lumen.example.com",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_bad_boolean_is_a_clear_error(tmp_path):
    result = manage("check", env={"DEBUG": "maybe", "LUMEN_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "DEBUG must be True or False" in result.stderr


def test_every_model_change_has_its_migration(tmp_path):
    result = manage("makemigrations", "--check", "--dry-run", env={"LUMEN_VAR_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_report_time_zone_that_does_not_exist_is_refused(tmp_path):
    result = manage(
        "check", env={"LUMEN_VAR_DIR": str(tmp_path), "LUMEN_REPORT_TIMEZONE": "Mars/Olympus"}
    )
    assert result.returncode != 0
    assert "LUMEN_REPORT_TIMEZONE must be a time zone name" in result.stderr
