"""Injected failures: the ways the real Stripe misbehaves that a client must survive.

Each request draws the same number of values from one seeded RNG, in a fixed order, so a
given seed and request sequence always meets the same faults. Tests switch faults on and off
while the server runs by assigning `emulator.faults` or calling `faults.set(...)`.

Besides the random faults, `answer` is a canned answer served in place of the API's: what
a proxy, a captive portal or a Stripe having a bad day might send (a redirect, a body that
is not a JSON object, an error message that echoes the whole key).
"""

import json
import random
import threading
from dataclasses import dataclass, field

DROP, RATE_LIMIT, SERVER_ERROR = "drop", "429", "500"
RATES = ("rate_429", "rate_500", "rate_slow", "rate_drop")


def _check_rate(name, value):
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")


@dataclass(frozen=True)
class Canned:
    """One answer, served for every request to `path` (every API request when None).

    `{key}` in the body stands for the key the request presented, whole.
    """

    status: int
    body: str = ""
    headers: dict = field(default_factory=dict, hash=False)
    content_type: str = "application/json"
    path: str | None = None

    def applies_to(self, path) -> bool:
        return self.path is None or self.path == path

    def payload(self, key) -> bytes:
        return self.body.replace("{key}", key).encode()

    @classmethod
    def redirect(cls, location, status=302, path=None):
        return cls(status, "", {"Location": location}, path=path)

    @classmethod
    def echoing_the_key(cls, status=401):
        """An error whose message repeats the key whole (Stripe masks it; a proxy or an
        older API might not)."""
        message = "Invalid API Key provided: {key}"
        body = {"error": {"message": message, "type": "invalid_request_error"}}
        return cls(status, json.dumps(body))


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
        answer=None,
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
        self.answer = answer  # a Canned answer, or None
        for name in RATES:
            _check_rate(name, getattr(self, name))

    def set(self, **settings):
        """Change rates (or slow_seconds, or the canned answer) while the emulator runs."""
        for name, value in settings.items():
            if name not in RATES + ("slow_seconds", "answer"):
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
            f"rate_drop={self.rate_drop}, seed={self.seed}, answer={self.answer})"
        )
