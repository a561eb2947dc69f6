import json
import secrets

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.core.wsgi import get_wsgi_application
from django.db import connection as database

from audit.models import AuditEvent
from audit.recorder import Actor
from connectors import connections
from connectors.emulator import DEMO_KEY, EmulatorStore, StripeEmulator, seed_account
from connectors.models import StripeConnection
from connectors.sync import run_sync
from lumen.celery import app as celery_app
from reports import runner

DEMO_USER = "demo"
DEMO_REPORTS = {"revenue": {"days": 30}, "mrr": {"months": 6}, "disputes": {},
                "payouts": {"days": 30}}  # fmt: skip


class Command(BaseCommand):
    help = (
        "Everything needed to look at a working portal on a fresh machine: a Stripe emulator "
        "with a seeded account, a verified connection named 'demo', a staff login, and the "
        "admin on 127.0.0.1."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="the admin's port")
        parser.add_argument("--emulator-port", type=int, default=12111)
        parser.add_argument("--seed", type=int, default=1, help="the seeded account's seed")
        parser.add_argument("--no-serve", action="store_true", help="set everything up, then exit")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args, **options):
        refuse_unless_a_demo_database()
        call_command("migrate", interactive=False, verbosity=0)
        store = EmulatorStore()
        seed_account(store, seed=options["seed"])
        emulator = StripeEmulator(store, keys=[DEMO_KEY], port=options["emulator_port"])
        try:
            emulator.start()
        except OSError as e:
            raise CommandError(
                f"The emulator cannot listen on port {options['emulator_port']} ({e.strerror}): "
                "pass --emulator-port with a free port."
            ) from None
        # This process is the demo's whole deployment, so its Stripe is the emulator.
        settings.STRIPE_API_BASE = emulator.url

        actor = Actor.command("demo")
        connection = StripeConnection.objects.filter(name="demo").first()
        connection = connection or StripeConnection(name="demo")
        connections.save_key(connection, DEMO_KEY, actor=actor, origin="command:demo")
        result = connections.verify(connection, actor=actor, origin="command:demo")
        # The demo has no worker: its tasks ("Sync now") run in the web process.
        celery_app.conf.task_always_eager = True
        sync = run_sync(connection, actor=actor)
        connection.refresh_from_db()

        # One finished run of each report, so that the front page has figures at once.
        reports = {}
        for kind, parameters in DEMO_REPORTS.items():
            run = runner.create(kind, connection, parameters, requester_kind="command", name="demo")
            reports[kind] = runner.execute(run.pk)

        password = secrets.token_urlsafe(12)
        user, _ = User.objects.get_or_create(username=DEMO_USER)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()

        # Bind before printing, so that the printed address already answers (and --port 0
        # picks a free port).
        server = None
        if not options["no_serve"]:
            server = admin_server(options["port"])
            options["port"] = server.server_address[1]
        url = f"http://127.0.0.1:{options['port']}/admin/"
        document = {
            "admin": url,
            "username": DEMO_USER,
            "password": password,
            "stripe_api_base": emulator.url,
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
        }
        if options["json"]:
            self.stdout.write(json.dumps(document, indent=2))
        else:
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
                f"Admin: {url}\n"
                f"Log in as {DEMO_USER} / {password}\n"
            )
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


def refuse_unless_a_demo_database():
    """The demo sets a connection's key and makes a superuser with a printed password: on a
    real database that would replace a real connection's key and open a real account. So it
    runs only with DEBUG on, on an empty database or one that only earlier demos wrote to.
    Checked before anything is written (migrations included)."""
    if not settings.DEBUG:
        raise CommandError(
            "The demo runs only with DEBUG on (bin/demo sets it): it makes a superuser and "
            "points Stripe at an emulator. Nothing was changed.",
            returncode=2,
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
            returncode=2,
        )


def admin_server(port):
    """Django's development server, with the admin's static files, bound to 127.0.0.1."""
    try:
        server = WSGIServer(("127.0.0.1", port), WSGIRequestHandler, ipv6=False)
    except OSError as e:
        raise CommandError(
            f"The admin cannot listen on port {port} ({e.strerror}): pass --port with a free port."
        ) from None
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    return server
