"""Injected failures: the ways the real Stripe misbehaves that a client must survive.

Each request draws the same number of values from one seeded RNG, in a fixed order, so a
given seed and request sequence always meets the same faults. Tests switch faults on and off
while the server runs by assigning `emulator.faults` or calling `faults.set(...)`.
"""

import random
import threading
from dataclasses import dataclass

DROP, RATE_LIMIT, SERVER_ERROR = "drop", "429", "500"
RATES = ("rate_429", "rate_500", "rate_slow", "rate_drop")


def _check_rate(name, value):
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")


@dataclass
class FaultDraw:
    kind: str | None  # None, DROP, RATE_LIMIT or SERVER_ERROR
    delay: float  # seconds to wait before answering (or dropping)


class Faults:
    def __init__(
        self,
        rate_429=0.0,
        rate_500=0.0,
        rate_slow=0.0,
        slow_seconds=1.0,
        rate_drop=0.0,
        seed=0,
        retry_after=None,
        should_retry=None,
    ):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.seed = seed
        self.rate_429 = rate_429
        self.rate_500 = rate_500
        self.rate_slow = rate_slow
        self.slow_seconds = slow_seconds
        self.rate_drop = rate_drop
        # What injected errors say about retrying: Retry-After (seconds) on a 429, and
        # Stripe-Should-Retry on a 429 or 500 (None keeps Stripe's usual headers).
        self.retry_after = retry_after
        self.should_retry = should_retry
        for name in RATES:
            _check_rate(name, getattr(self, name))

    def set(self, **settings):
        """Change rates (or slow_seconds) while the emulator runs."""
        for name, value in settings.items():
            if name not in RATES + ("slow_seconds",):
                raise TypeError(f"Unknown fault setting: {name}")
            if name in RATES:
                _check_rate(name, value)
        with self._lock:
            for name, value in settings.items():
                setattr(self, name, value)

    def error_headers(self, headers) -> dict:
        headers = dict(headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if self.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if self.should_retry else "false"
        return headers

    def draw(self) -> FaultDraw:
        with self._lock:
            slow, drop, limited, failed = (self._rng.random() for _ in range(4))
            delay = self.slow_seconds if slow < self.rate_slow else 0.0
            if drop < self.rate_drop:
                return FaultDraw(DROP, delay)
            if limited < self.rate_429:
                return FaultDraw(RATE_LIMIT, delay)
            if failed < self.rate_500:
                return FaultDraw(SERVER_ERROR, delay)
            return FaultDraw(None, delay)

    def __repr__(self):
        return (
            f"Faults(rate_429={self.rate_429}, rate_500={self.rate_500}, "
            f"rate_slow={self.rate_slow}, slow_seconds={self.slow_seconds}, "
            f"rate_drop={self.rate_drop}, seed={self.seed})"
        )
