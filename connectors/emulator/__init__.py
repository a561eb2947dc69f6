"""A Stripe-compatible read API with a seeded account, for the demo and the test-suite.

It imports nothing from Django, so it also runs on its own: `python -m connectors.emulator`.

    store = EmulatorStore()
    seed_account(store, seed=0)                  # or charges=100_000 for a large account
    with StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)]) as emulator:
        requests.get(f"{emulator.url}/v1/charges", auth=(DEMO_KEY, ""))
        emulator.post_webhooks(url, "whsec_...")  # deliver the events of changes
        emulator.changes.refund("ch_...")         # the account goes on; events follow
"""

from .changes import AccountChanges
from .errors import StripeError
from .events import EVENT_RETENTION
from .faults import Canned, Faults
from .keys import DEMO_KEY, KeyGrant, KeyTable, full_access, mask_key
from .seed import DEFAULT_NOW, seed_account
from .server import LoggedRequest, StripeEmulator
from .store import EmulatorStore, load_fixture
from .webhooks import Delivery, WebhookSender, signature_header

__all__ = [
    "DEFAULT_NOW",
    "DEMO_KEY",
    "EVENT_RETENTION",
    "AccountChanges",
    "Canned",
    "Delivery",
    "EmulatorStore",
    "Faults",
    "KeyGrant",
    "KeyTable",
    "LoggedRequest",
    "StripeEmulator",
    "StripeError",
    "WebhookSender",
    "full_access",
    "load_fixture",
    "mask_key",
    "seed_account",
    "signature_header",
]
