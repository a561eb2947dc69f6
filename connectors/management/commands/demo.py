import json
import os
import secrets
import shlex
import sys

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.db import connection as database
from django.db import transaction

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections
from connectors.emulator import DEMO_KEY
from connectors.emulator.demo import DEFAULT_PORT, DEFAULT_SEED, build_demo_emulator
from connectors.models import (
    MIRROR_MODELS,
    AppliedEvent,
    Balance,
    StripeConnection,
    SyncCheckpoint,
)
from connectors.sync import run_sync
from lumen.celery import app as celery_app
from reports import runner

DEMO_USER = "demo"
DEMO_REPORTS = {"revenue": {"days": 30}, "mrr": {"months": 6}, "disputes": {},
                "payouts": {"days": 30}}  # fmt: skip
REFUSED = 2  # the exit status when it will not run: a busy port, DEBUG off, a database not its own


class Command(BaseCommand):
    help = (
        "Everything needed to look at a working portal on a fresh machine: a Stripe emulator "
        "with an account seeded up to now, a verified connection named 'demo', a staff login, "
        "and the admin on 127.0.0.1. Run again, it keeps the login and the key."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=8000, help="the admin's port (default 8000)"
        )
        parser.add_argument(
            "--emulator-port",
            type=int,
            default=DEFAULT_PORT,
            help=f"the Stripe emulator's port (default {DEFAULT_PORT})",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=DEFAULT_SEED,
            help=f"the seeded account's seed (default {DEFAULT_SEED})",
        )
        parser.add_argument("--no-serve", action="store_true", help="set everything up, then exit")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args, **options):
        # Both ports are taken before anything is written: a second demo while one runs
        # must leave the first one's login, key and audit log as they are. The admin's is
        # bound before printing, so that the printed address already answers (and --port 0
        # picks a free port).
        server = None if options["no_serve"] else admin_server(options["port"])
        emulator = None
        try:
            emulator = start_emulator(options["emulator_port"], options["seed"])
            refuse_unless_a_demo_database()
            port = server.server_address[1] if server else options["port"]
            self.set_up(emulator, f"http://127.0.0.1:{port}/admin/", options)
        except BaseException:
            if server is not None:
                server.server_close()
            if emulator is not None:
                emulator.stop()
            raise
        if server is None:
            emulator.stop()
            return
        self.stdout.write("Quit with Ctrl-C.", ending="\n")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            emulator.stop()

    def set_up(self, emulator, url, options):
        """The connection, its mirror, a run of each report and the login; prints them."""
        call_command("migrate", interactive=False, verbosity=0)
        # This process is the demo's whole deployment, so its Stripe is the emulator.
        settings.STRIPE_API_BASE = emulator.url

        actor = Actor.command("demo")
        connection = StripeConnection.objects.filter(name="demo").first()
        connection = connection or StripeConnection(name="demo")
        if not connection.holds_key(DEMO_KEY):
            connections.save_key(connection, DEMO_KEY, actor=actor, origin="command:demo")
        result = connections.verify(connection, actor=actor, origin="command:demo")
        # The demo has no worker: its tasks ("Sync now") run in the web process.
        celery_app.conf.task_always_eager = True
        forget_the_previous_account(connection)
        sync = run_sync(connection, actor=actor)
        connection.refresh_from_db()

        # One finished run of each report, so that the front page has figures at once.
        reports = {}
        for kind, parameters in DEMO_REPORTS.items():
            run = runner.create(kind, connection, parameters, requester_kind="command", name="demo")
            reports[kind] = runner.execute(run.pk)

        # The login a running or earlier demo printed keeps working: a password is made only
        # with the user (refuse_unless_a_demo_database let through no user but a demo's).
        password = None
        if not User.objects.filter(username=DEMO_USER).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(DEMO_USER, "", password)

        stripe = f"STRIPE_API_BASE={emulator.url}"
        commands = {
            "sync": command_line(stripe, "sync", "demo"),
            "report": command_line(stripe, "report", "disputes", "demo"),
            "change_password": command_line(None, "changepassword", DEMO_USER),
        }
        document = {
            "admin": url,
            "username": DEMO_USER,
            "password": password,  # null: the demo user was there, with its password
            "stripe_api_base": emulator.url,
            "seed": options["seed"],
            "connection": connection.name,
            "account": connection.account_name,
            "mode": connection.mode,
            "health": connection.health,
            "verified": result.ok,
            "sync": sync.as_document(),
            "audit_events": AuditEvent.objects.filter(connection_id=connection.pk).count(),
            "reports": {
                kind: {
                    "run": run.pk,
                    "status": run.status,
                    "url": f"{url}reports/reportrun/{run.pk}/change/",
                }
                for kind, run in reports.items()
            },  # fmt: skip
            # Shell lines that work on this demo while it serves, from the project's folder.
            "folder": str(settings.BASE_DIR),
            "commands": commands,
        }
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2))
            return
        if password:
            login = f"Log in as {DEMO_USER} / {password}\n"
        else:
            login = (
                f"Log in as {DEMO_USER} with the password an earlier run printed (kept).\n"
                f"Forgot it? Set a new one: {commands['change_password']}\n"
            )
        # With --no-serve the emulator stops with this command: nothing to run them against.
        usage = (
            ""
            if options["no_serve"]
            else f"Commands against this demo while it runs, from {settings.BASE_DIR}:\n"
            f"  {commands['sync']}\n"
            f"  {commands['report']}\n\n"
        )
        self.stdout.write(
            f"Stripe emulator: {emulator.url} (seed {options['seed']})\n"
            f"Connection 'demo': {connection.account_name} ({connection.mode} mode), "
            f"{result.message}\n"
            f"Mirror: {sync.totals()['fetched']:,} objects read in {sync.api_calls} API calls "
            f"({sync.get_status_display().lower()})\n"
            f"Audit log: {document['audit_events']} events for this connection\n"
            f"Reports: "
            + ", ".join(
                f"{kind} {run.get_status_display().lower()}" for kind, run in reports.items()
            )
            + "\n\n"
            + usage
            + f"Admin: {url}\n"
            + login
        )


def forget_the_previous_account(connection):
    """Each run seeds the emulator's account anew, up to now: another account, which reuses
    the previous one's ids for other records (last week's payout in transit is this week's
    paid one) and knows none of its events. What the mirror holds of the previous one goes,
    so that the sync reads this one whole and nothing stale stays behind. The audit log, the
    sync runs and the report runs stay."""
    with transaction.atomic():
        for model in (*MIRROR_MODELS.values(), Balance, AppliedEvent, SyncCheckpoint):
            model.objects.filter(connection=connection).delete()


def start_emulator(port, seed):
    """The demo account, seeded up to now, served on 127.0.0.1:`port`."""
    emulator = build_demo_emulator(port=port, seed=seed)
    try:
        return emulator.start()
    except OSError as e:
        raise CommandError(
            f"The emulator cannot listen on port {port} ({e.strerror}): is another demo "
            "running? Pass --emulator-port with a free port. Nothing was changed.",
            returncode=REFUSED,
        ) from None


def command_line(stripe, *args):
    """`manage.py *args` as a line a shell runs in the project's folder on this demo's
    database, with development settings and the demo's `stripe` (STRIPE_API_BASE=...)."""
    environment = ["DEBUG=true"]
    for name in ("LUMEN_VAR_DIR", "DATABASE_URL"):  # where the demo's database is, if chosen
        if os.environ.get(name):
            environment.append(f"{name}={shlex.quote(os.environ[name])}")
    if stripe:
        environment.append(stripe)
    python = sys.executable
    if python.startswith(f"{settings.BASE_DIR}{os.sep}"):
        python = os.path.relpath(python, settings.BASE_DIR)
    return " ".join([*environment, shlex.quote(python), "manage.py", *args])


def refuse_unless_a_demo_database():
    """The demo sets a connection's key and makes a superuser with a printed password: on a
    real database that would replace a real connection's key and open a real account. So it
    runs only with DEBUG on, on an empty database or one that only earlier demos wrote to.
    Checked before anything is written (migrations included)."""
    if not settings.DEBUG:
        raise CommandError(
            "The demo runs only with DEBUG on (bin/demo sets it): it makes a superuser and "
            "points Stripe at an emulator. Nothing was changed.",
            returncode=REFUSED,
        )
    tables = set(database.introspection.table_names())
    found = []
    if User._meta.db_table in tables:
        users = User.objects.exclude(username=DEMO_USER).count()
        if users:
            found.append(f"{users} user(s) other than {DEMO_USER!r}")
    made_by_demo = set()
    if StripeConnection._meta.db_table in tables and AuditEvent._meta.db_table in tables:
        made_by_demo = set(
            AuditEvent.objects.filter(
                operation="connection.created", origin="command:demo"
            ).values_list("connection_id", flat=True)
        )
        others = StripeConnection.objects.exclude(name="demo", pk__in=made_by_demo).count()
        if others:
            found.append(f"{others} connection(s) that no demo made")
        if (
            not made_by_demo
            and User._meta.db_table in tables
            and User.objects.filter(username=DEMO_USER).exists()
        ):
            found.append(f"a user {DEMO_USER!r} that no demo made")
    if found:
        raise CommandError(
            f"This database ({database.settings_dict['NAME']}) holds "
            + " and ".join(found)
            + ": the demo runs only on an empty database or one an earlier demo made. "
            "Point DATABASE_URL (or LUMEN_VAR_DIR) somewhere else. Nothing was changed.",
            returncode=REFUSED,
        )


def admin_server(port):
    """Django's development server, with the admin's static files, bound to 127.0.0.1."""
    try:
        server = WSGIServer(("127.0.0.1", port), WSGIRequestHandler, ipv6=False)
    except OSError as e:
        raise CommandError(
            f"The admin cannot listen on port {port} ({e.strerror}): is another demo running? "
            "Pass --port with a free port. Nothing was changed.",
            returncode=REFUSED,
        ) from None
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    return server
