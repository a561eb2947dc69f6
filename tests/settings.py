"""The settings of the test-suite: Lumen's, in development (DEBUG=true, secrets generated
into var/), so that a bare `pytest` runs as `bin/test` does. The child processes the tests
start (a Celery worker, manage.py) inherit the variable."""

import os

os.environ.setdefault("DEBUG", "true")

from lumen.settings import *  # noqa: E402, F403
