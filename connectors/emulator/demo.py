"""Running the emulator by hand: the demo account, its key, and a banner saying how to point
Lumen at it. Shared by `manage.py stripe_emulator` and `python -m connectors.emulator`."""

import time

from .faults import Faults
from .keys import DEMO_KEY, KeyGrant, mask_key
from .seed import seed_account
from .server import StripeEmulator, serve_until_stopped
from .store import EmulatorStore, load_fixture

DEFAULT_PORT = 12111
# The account `manage.py demo`, `manage.py stripe_emulator` and `python -m connectors.emulator`
# serve unless told otherwise: one seed, so that each shows the same customers and disputes.
DEFAULT_SEED = 1


def add_arguments(parser):
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the demo account (default {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--now",
        type=int,
        default=None,
        help="Unix time the account is seeded up to (default: this hour)",
    )
    parser.add_argument(
        "--fixture",
        action="append",
        default=[],
        metavar="FILE",
        help="JSON file of Stripe objects to serve as well (repeatable)",
    )
    parser.add_argument(
        "--no-seed", action="store_true", help="serve only the objects of --fixture files"
    )
    faults = {
        "429": "answered 429 rate_limit_error (with Stripe-Should-Retry: true)",
        "500": "answered 500 api_error",
        "slow": "answered only after --slow-seconds",
        "drop": "dropped without an answer",
    }
    for fault, effect in faults.items():
        parser.add_argument(
            f"--fault-{fault}",
            type=float,
            default=0.0,
            metavar="RATE",
            help=f"share of requests {effect}, 0 to 1 (default 0)",
        )
    parser.add_argument("--slow-seconds", type=float, default=1.0, metavar="SECONDS")


def build_demo_emulator(
    port=0, seed=DEFAULT_SEED, now=None, fixtures=(), with_seed=True, faults=None, charges=None
):
    """The demo account behind an emulator (not started yet), seeded up to `now` (Unix time;
    default: the start of this hour)."""
    store = EmulatorStore()
    if with_seed:
        # The demo's disputes are due "today" only if the account is seeded up to now.
        now = now or int(time.time()) // 3600 * 3600
        seed_account(store, seed=seed, now=now, charges=charges)
    for path in fixtures:
        load_fixture(store, path)
    return StripeEmulator(store, keys=[KeyGrant(DEMO_KEY)], faults=faults, port=port)


def banner(emulator) -> str:
    account = emulator.store.account or {}
    name = (account.get("business_profile") or {}).get("name") or "an empty account"
    return "\n".join(
        [
            f"Stripe emulator serving {name} ({account.get('id', 'no account')}) at {emulator.url}",
            f"Demo key, test mode, every read permission: {mask_key(DEMO_KEY)} "
            "(connectors.emulator.DEMO_KEY)",
            f"Point Lumen at it: export STRIPE_API_BASE={emulator.url}",
            "  export LUMEN_DEMO_KEY=$(python -c 'from connectors.emulator import DEMO_KEY; "
            "print(DEMO_KEY)')",
            "  python manage.py connect demo --key-env LUMEN_DEMO_KEY",
            "Press Ctrl-C to stop.",
        ]
    )


def serve(options, write=print):
    """Serve with argparse `options` until Ctrl-C."""
    faults = Faults(
        rate_429=options.fault_429,
        rate_500=options.fault_500,
        rate_slow=options.fault_slow,
        slow_seconds=options.slow_seconds,
        rate_drop=options.fault_drop,
    )
    emulator = build_demo_emulator(
        options.port, options.seed, options.now, options.fixture, not options.no_seed, faults
    )
    emulator.start()
    write(banner(emulator))
    serve_until_stopped(emulator)
    write(f"Stopped after answering {len(emulator.request_log)} requests.")
