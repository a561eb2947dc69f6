"""No management command prints a stored key, whichever app added it: import-export's
`export` and `import` refuse anything that reaches an encrypted field, `dumpdata` writes the
ciphertext (which loads back), and `diffsettings` masks the secrets that would decrypt it.
Each command runs as a user runs it, in a child process."""

import json
import os

import pytest
from django.core.management import get_commands
from import_export import fields, resources

from audit.models import AuditEvent
from connectors.models import StripeConnection, SyncRun
from tests.conftest import TEST_KEY
from tests.worker import ROOT, manage


class KeyThroughARelation(resources.ModelResource):
    """A resource someone might write: sync runs, with their connection's key alongside."""

    key = fields.Field(attribute="connection__secret_key", column_name="key")

    class Meta:
        model = SyncRun
        fields = ["id", "key"]


def assert_no_key(result):
    output = result.stdout + result.stderr
    assert TEST_KEY not in output and TEST_KEY[8:-4] not in output


@pytest.fixture
def committed_connection(transactional_db, connection):
    # transactional_db: the child process must see the connection.
    return connection


def test_export_of_connections_is_refused(committed_connection):
    result = manage("export", "CSV", "connectors.StripeConnection")
    assert result.returncode == 2
    assert "connectors.StripeConnection.secret_key, an encrypted secret" in result.stderr
    assert_no_key(result)
    webhooks = manage("export", "JSON", "connectors.WebhookEndpoint")
    assert webhooks.returncode == 2 and "signing_secret" in webhooks.stderr


def test_a_resource_reaching_the_key_through_a_relation_is_refused(committed_connection):
    SyncRun.objects.create(connection=committed_connection)
    result = manage("export", "CSV", f"{__name__}.KeyThroughARelation")
    assert result.returncode == 2
    assert "reaches connectors.StripeConnection.secret_key" in result.stderr
    assert_no_key(result)


def test_other_models_still_export(committed_connection):
    SyncRun.objects.create(connection=committed_connection)
    result = manage("export", "CSV", "connectors.SyncRun")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("id,connection,")


def test_import_cannot_write_a_key(committed_connection):
    rows = f"id,name,secret_key\n{committed_connection.pk},acme,rk_test_planted00000000000000\n"
    result = manage("import", "--no-input", "--format", "CSV", "connectors.StripeConnection", "-",
                    stdin=rows)  # fmt: skip
    assert result.returncode == 2
    assert "neither exports nor imports it" in result.stderr
    assert StripeConnection.objects.get().secret_key == TEST_KEY


def test_nothing_is_imported_into_the_audit_log(committed_connection):
    before = AuditEvent.objects.count()
    rows = ("id,occurred_at,operation,actor_kind,actor,chain_hash\n"
            "99999,2026-01-01 00:00:00,connection.created,user,alice,forged\n")  # fmt: skip
    result = manage("import", "--no-input", "--format", "CSV", "audit.AuditEvent", "-",
                    stdin=rows)  # fmt: skip
    assert result.returncode == 2 and "append-only" in result.stderr
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("output_format", ["json", "xml", "jsonl"])
def test_dumpdata_writes_the_ciphertext_and_loads_back(committed_connection, output_format):
    result = manage("dumpdata", "--format", output_format)
    assert result.returncode == 0, result.stderr
    assert_no_key(result)
    assert "StripeConnection" in result.stdout or "stripeconnection" in result.stdout


def test_a_dump_restores_the_key(committed_connection, tmp_path):
    dump = tmp_path / "connections.json"
    result = manage("dumpdata", "connectors.StripeConnection", "--output", str(dump))
    assert result.returncode == 0, result.stderr
    stored = json.loads(dump.read_text())[0]["fields"]["secret_key"]
    assert stored.startswith("gAAAA")  # a Fernet token, not the key

    StripeConnection.objects.all().delete()
    result = manage("loaddata", str(dump))
    assert result.returncode == 0, result.stderr
    assert StripeConnection.objects.get(name="acme").secret_key == TEST_KEY


@pytest.mark.parametrize("output", ["hash", "unified"])
def test_diffsettings_masks_the_secrets(output):
    from django.conf import settings

    result = manage("diffsettings", "--output", output)
    assert result.returncode == 0, result.stderr
    assert "FIELD_ENCRYPTION_KEY = ********************" in result.stdout
    for secret in [settings.SECRET_KEY, *settings.FIELD_ENCRYPTION_KEY]:
        assert secret not in result.stdout


# Every management command Lumen's dependencies add, and why it cannot print a stored key.
# A new dependency's command fails this test until it is looked at and added here.
REVIEWED = {
    # django-import-export, replaced by safety's: refuse anything reaching an encrypted field.
    "export", "import",
    # dumpdata writes SecretField's ciphertext (SecretField.value_from_object); loaddata,
    # flush, migrate and friends print no row; diffsettings is replaced by safety's (masked).
    "dumpdata", "loaddata", "diffsettings", "flush", "migrate", "makemigrations",
    "optimizemigration", "showmigrations", "sqlmigrate", "squashmigrations", "sqlflush",
    "sqlsequencereset", "inspectdb", "createcachetable", "check", "sendtestemail",
    "compilemessages", "makemessages", "startapp", "startproject", "test", "testserver",
    # Give their user what they already hold: a Python or SQL prompt with this environment
    # (the database holds ciphertext only).
    "shell", "dbshell",
    # auth, contenttypes, sessions, staticfiles: users, content types, static files.
    "changepassword", "createsuperuser", "remove_stale_contenttypes", "clearsessions",
    "collectstatic", "findstatic", "runserver",
    # django-axes: login attempts (username, address, time), never a password.
    "axes_list_attempts", "axes_reset", "axes_reset_failure_logs", "axes_reset_ip",
    "axes_reset_ip_username", "axes_reset_logs", "axes_reset_username",
}  # fmt: skip
LUMEN_APPS = {"assistant", "audit", "connectors", "reports", "safety"}


def test_every_command_of_a_dependency_was_reviewed():
    added = {name for name, app in get_commands().items() if app not in LUMEN_APPS}
    assert added - REVIEWED == set(), "review these commands, then add them to REVIEWED"
    # safety's own replace the dependencies' (it comes first in INSTALLED_APPS).
    commands = get_commands()
    assert [commands[n] for n in ("export", "import", "diffsettings")] == ["safety"] * 3
    assert os.path.exists(ROOT / "safety" / "management" / "commands" / "export.py")
