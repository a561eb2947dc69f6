"""The reports in the admin: runs (ask, watch, read, download, run again) and the lists of
records that a run's figures cite, opened in the mirror's own pages."""

from reports.admin import cited, runs, schedules

__all__ = ["cited", "runs", "schedules"]
