"""A Stripe-compatible read API with a seeded account, for the demo and the test-suite.

It imports nothing from Django, so it also runs on its own: `python -m connectors.emulator`.

    store = EmulatorStore()
    seed_account(store, seed=0)
    with StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)]) as emulator:
        requests.get(f"{emulator.url}/v1/charges", auth=(DEMO_KEY, ""))
"""

from .errors import StripeError
from .faults import Faults
from .keys import DEMO_KEY, KeyGrant, KeyTable, full_access, mask_key
from .seed import DEFAULT_NOW, seed_account
from .server import LoggedRequest, StripeEmulator
from .store import EmulatorStore, load_fixture

__all__ = [
    "DEFAULT_NOW",
    "DEMO_KEY",
    "EmulatorStore",
    "Faults",
    "KeyGrant",
    "KeyTable",
    "LoggedRequest",
    "StripeEmulator",
    "StripeError",
    "full_access",
    "load_fixture",
    "mask_key",
    "seed_account",
]
