"""The people and things most tests need: staff users, a running Stripe emulator with a seeded
account, and a connection to it.

The emulator is a real HTTP server on 127.0.0.1 (started once per session); the door talks
to it over real HTTP through the official stripe library, exactly as it talks to Stripe.
"""

import os
import time

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db.backends.sqlite3.base import DatabaseOperations as SQLiteOperations

from audit.recorder import Actor
from connectors import connections
from connectors.emulator import DEMO_KEY, EmulatorStore, Faults, StripeEmulator, seed_account
from connectors.models import StripeConnection
from tests.audit_fixtures import AUDIT_TABLE, sqlite_triggers

pytest_plugins = ["tests.accounts", "tests.audit_fixtures"]

# A restricted test-mode key the emulator knows, used by most tests. Tests that look for the
# key where it must not be search for this exact string.
TEST_KEY = "rk_test_" + "LumenTestsReadOnly" + "q7Z3x9Kp2Vw4" + "Wxyz"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Production's PBKDF2 costs about half a second per user on this machine's cores.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def audit_anchor_file(settings, tmp_path_factory):
    """Each test anchors the audit chain in a file of its own, never in var/."""
    settings.LUMEN_AUDIT_ANCHOR_PATH = tmp_path_factory.mktemp("anchors") / "audit-anchors.jsonl"
    return settings.LUMEN_AUDIT_ANCHOR_PATH


@pytest.fixture(scope="session", autouse=True)
def flush_around_the_audit_triggers():
    """On SQLite, the flush between transactional tests deletes every row, which the audit
    log's append-only triggers refuse. The flush drops them first and creates them again in
    the same transaction; PostgreSQL's flush is a TRUNCATE, which its row trigger lets by.

    Only the tests' flush does this: the triggers themselves, and `manage.py flush` outside
    the tests, are as migrated.
    """
    original = SQLiteOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        if AUDIT_TABLE not in tables:
            return statements
        triggers = sqlite_triggers(self.connection)
        drop = [f'DROP TRIGGER "{name}"' for name, _ in triggers]
        return [*drop, *statements, *(sql for _, sql in triggers)]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SQLiteOperations, "sql_flush", sql_flush)
        yield


@pytest.fixture(scope="session")
def emulator_server():
    store = EmulatorStore()
    # Seeded up to the present: Stripe holds nothing created after "now".
    seed_account(store, seed=7, now=int(time.time()))
    server = StripeEmulator(store, keys=[TEST_KEY, DEMO_KEY])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server, settings):
    """The session's emulator, pointed at by STRIPE_API_BASE, with no faults and every key
    granted again, so that what one test changes does not leak into the next."""
    settings.STRIPE_API_BASE = emulator_server.url
    settings.STRIPE_RETRY_BASE_DELAY = 0.001
    settings.STRIPE_RETRY_MAX_DELAY = 0.01
    settings.STRIPE_RATE_LIMIT_TEST = 10_000
    emulator_server.faults = Faults()
    grant_key(emulator_server, TEST_KEY)
    grant_key(emulator_server, DEMO_KEY)
    emulator_server.clear_log()
    return emulator_server


def grant_key(emulator, key, permissions=None):
    """Let the emulator accept `key` (again), with every read permission or only those named
    (e.g. {"rak_charge_read"})."""
    emulator.grant(key, permissions=permissions)


def revoke_key(emulator, key):
    emulator.revoke(key)


@pytest.fixture
def alice(db):
    """A superuser: finance lead, owns the connections."""
    return User.objects.create_superuser("alice", "alice@example.org", "password")


@pytest.fixture
def bob(db):
    """Support staff: may look at connections and the audit log, change nothing."""
    user = User.objects.create_user("bob", "bob@example.org", "password", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_stripeconnection", "view_auditevent"])
    )
    return user


def member(username, *roles):
    """A staff user holding Lumen's roles (the groups roles/definitions.py describes)."""
    user = User.objects.create_user(username, f"{username}@example.org", "password", is_staff=True)
    user.groups.set(Group.objects.filter(name__in=roles))
    assert user.groups.count() == len(roles), f"no such role among {roles}"
    return user


@pytest.fixture
def analyst(db):
    """Finance analyst: reads the mirror and report runs, runs reports and exports."""
    return member("carol", "Analyst")


@pytest.fixture
def viewer(db):
    """Reads the mirror and report runs; may not run a report or export."""
    return member("dave", "Viewer")


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run the Celery tasks a request queues once its transaction commits, in this process
    (a real worker runs them in tests/test_worker.py): `with after_commit(): client.post(...)`.
    """
    from lumen.celery import app

    app.conf.task_always_eager = True
    yield lambda: django_capture_on_commit_callbacks(execute=True)
    # Back to what the settings say (other tests set CELERY_TASK_ALWAYS_EAGER themselves).
    app.conf.changes.pop("task_always_eager", None)


@pytest.fixture
def connection(db, emulator, alice):
    """A verified connection named acme, holding TEST_KEY."""
    conn = StripeConnection(name="acme", created_by=alice)
    connections.save_key(conn, TEST_KEY, actor=Actor.user(alice))
    connections.verify(conn, actor=Actor.user(alice))
    return conn


def close_browser_test_connections():
    """Call before Playwright stops. Its sync API runs an event loop in this thread, and while
    a loop runs Django keeps the thread's database connections per async context, apart from
    the thread's own: the ORM calls a browser test makes between page actions open one there,
    which no test's teardown closes (on PostgreSQL it held the test database open until the
    end of the run, and pytest could not drop it)."""
    from django.db import connections as databases

    databases.close_all()


@pytest.fixture
def browser_path():
    path = os.environ.get("LUMEN_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(path):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Chromium at {path} for the browser tests")
        pytest.skip(f"no Chromium at {path} (apt-get install chromium)")
    return path


def redis_url_or_skip():
    """The Redis the suite runs with. Without REDIS_URL the Redis tests skip, except under
    CI=true, where they run against CI's own Redis (the database .ci/run gives REDIS_URL)."""
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    if os.environ.get("CI") == "true":
        return os.environ.get("CI_REDIS_URL", "redis://127.0.0.1:6379/15")
    pytest.skip("needs REDIS_URL (CI sets it)")
