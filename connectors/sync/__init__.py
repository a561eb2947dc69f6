"""Keeping the mirror of a Stripe account up to date: see runner (backfill, events,
checkpoints), events (applying one event), upsert (newest version wins) and lease (one
sync per connection at a time)."""

from connectors.sync.events import apply_event
from connectors.sync.runner import run_sync
from connectors.sync.upsert import store_objects

__all__ = ["apply_event", "run_sync", "store_objects"]
