"""Per-connection request pacing for the door.

Each request reserves the next free slot on its connection's timeline (slots are 1/rate
seconds apart) and waits until that slot comes. With Redis configured the timeline lives in
Redis, so several worker processes reading the same account share one budget; without it
each process paces itself, which is right for the single-process default set-up.
"""

import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

# Reserve a slot atomically on the server's clock, so workers on machines whose clocks
# disagree still share one timeline. Returns how long the caller must wait, in microseconds.
RESERVE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', 60000)
return slot - now
"""


class LocalLimiter:
    def __init__(self):
        self._lock = threading.Lock()
        self._next = {}

    def reserve(self, key, rate):
        """Seconds to wait before sending."""
        interval = 1.0 / rate
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(key, 0.0))
            self._next[key] = slot + interval
        return slot - now


class RedisLimiter:
    def __init__(self, url):
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(RESERVE_SLOT)
        self._fallback = LocalLimiter()

    def reserve(self, key, rate):
        try:
            waited_us = self._script(keys=[f"lumen:ratelimit:{key}"], args=[int(1e6 / rate)])
        except Exception as e:
            # Pacing must not stop the work when Redis blips: pace locally meanwhile.
            log.warning("rate limit falls back to this process: Redis said %s", type(e).__name__)
            return self._fallback.reserve(key, rate)
        return int(waited_us) / 1e6


_limiters = {}
_limiters_lock = threading.Lock()


def get_limiter():
    url = settings.REDIS_URL
    with _limiters_lock:
        if url not in _limiters:
            _limiters[url] = RedisLimiter(url) if url else LocalLimiter()
        return _limiters[url]


def wait_for_slot(connection_id, mode):
    rate = settings.STRIPE_RATE_LIMIT_LIVE if mode == "live" else settings.STRIPE_RATE_LIMIT_TEST
    delay = get_limiter().reserve(connection_id, rate)
    if delay > 0:
        time.sleep(delay)
    return delay
