"""plotly.min.js, served with the app from the plotly package itself (no CDN: an internal
portal often has no internet, or a Content-Security-Policy that forbids other hosts).

Exposed as static/reports/vendor/plotly.min.js: found by runserver and collected by
collectstatic like any static file, and only that file of the package.
"""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

PREFIX = "reports/vendor"
NAME = "plotly.min.js"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=Path(plotly.__file__).parent / "package_data")
        self.storage.prefix = PREFIX

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        if path == f"{PREFIX}/{NAME}":
            found = self.storage.path(NAME)
            return [found] if find_all else found
        return [] if find_all else None

    def list(self, ignore_patterns):
        yield NAME, self.storage
