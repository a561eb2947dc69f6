"""A real Celery worker process for the tests that need one.

It runs `celery -A lumen worker` against the test database and the configured broker (a
SQLite file through SQLAlchemy on the defaults, Redis in CI), on a queue of its own so that
it never takes work meant for anything else.
"""

import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def url_of_test_database():
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


def child_env(**extra_env):
    """The environment of a child process (a worker, a command) that must see what this
    test sees: the test database, the encryption and audit chain keys, the anchor file, the
    emulator."""
    return {
        **os.environ,
        "DATABASE_URL": url_of_test_database(),
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "AUDIT_CHAIN_KEY": settings.AUDIT_CHAIN_KEY,
        "LUMEN_AUDIT_ANCHOR_PATH": str(settings.LUMEN_AUDIT_ANCHOR_PATH),
        "STRIPE_API_BASE": settings.STRIPE_API_BASE,
        "STRIPE_RETRY_BASE_DELAY": str(settings.STRIPE_RETRY_BASE_DELAY),
        "STRIPE_RETRY_MAX_DELAY": str(settings.STRIPE_RETRY_MAX_DELAY),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "STRIPE_RATE_LIMIT_TEST": str(settings.STRIPE_RATE_LIMIT_TEST),
        "STRIPE_PAGE_SIZE": str(settings.STRIPE_PAGE_SIZE),
        "LUMEN_SYNC_HISTORY_DAYS": str(settings.LUMEN_SYNC_HISTORY_DAYS),
        **extra_env,
    }


def manage(*args, stdin=None, timeout=300, **extra_env):
    """A command as a user runs it: its own process, on what this test sees (child_env), with
    its exit status, stdout and stderr."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(**extra_env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def celery_worker(**extra_env):
    queue = f"lumen-tests-{uuid.uuid4().hex[:8]}"
    env = child_env(**extra_env)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "lumen",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield queue
    finally:
        process.terminate()
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        celery_worker.last_output = output


def beat_and_worker_until(queue, done, seconds=90):
    """Run Celery beat (django-celery-beat's DatabaseScheduler) and a worker on `queue`, both
    in this process (so that what they do lands where the test looks, the locmem outbox
    included), until done() is true or `seconds` have passed."""
    from celery.beat import Service
    from celery.contrib.testing.worker import start_worker
    from django_celery_beat.schedulers import DatabaseScheduler

    from lumen.celery import app

    beat = Service(app, max_interval=1, scheduler_cls=DatabaseScheduler)
    ticking = threading.Thread(target=beat.start, daemon=True)
    with start_worker(app, queues=[queue], perform_ping_check=False, shutdown_timeout=30):
        ticking.start()
        try:
            deadline = time.monotonic() + seconds
            while not done() and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            beat.stop()
            ticking.join(timeout=10)
