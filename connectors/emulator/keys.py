"""API keys the emulator accepts, and what each may read.

A key is a secret even in an emulator: tests use the same code paths as production, and a
key that leaks here would leak there. So a key is only ever shown masked, the grant's repr
hides it, and nothing in this package logs one.
"""

from dataclasses import dataclass, field

from connectors.resources import RESOURCES

# Full read access in test mode, for the demo. It opens nothing but the emulator.
DEMO_KEY = "rk_test_51LumenDemoQ7sVb2Nc8Mz3Kp6Wd4Rt9Yh1Jf5Gx0Ln"

READ_PERMISSIONS = frozenset(r.permission for r in RESOURCES)
SECRET_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_")
PUBLISHABLE_PREFIXES = ("pk_test_", "pk_live_")


def mask_key(key: str) -> str:
    """'rk_test_abc...wxyz' -> 'rk_test_*****...wxyz', as Stripe writes keys in its errors."""
    key = key or ""
    prefix = next((p for p in SECRET_PREFIXES + PUBLISHABLE_PREFIXES if key.startswith(p)), "")
    hidden = key[len(prefix) :]
    if len(hidden) < 12:  # too short to show any of it without giving most of it away
        return prefix + "*" * min(len(hidden), 8)
    return prefix + "*" * min(len(hidden) - 4, 100) + hidden[-4:]


def is_publishable(key: str) -> bool:
    return key.startswith(PUBLISHABLE_PREFIXES)


@dataclass
class KeyGrant:
    """One secret or restricted key: its mode comes from its prefix, as with Stripe.

    permissions=None reads everything (a secret key, or a restricted key with every read
    permission); otherwise a set of permission names from connectors.resources.
    account=None means the account of the store the emulator serves.
    """

    key: str = field(repr=False)
    permissions: frozenset | None = None
    account: str | None = None
    revoked: bool = False

    def __post_init__(self):
        if not self.key.startswith(SECRET_PREFIXES):
            raise ValueError(
                f"A key grant needs a secret or restricted key (sk_/rk_), not {self.masked}"
            )
        if self.permissions is not None:
            self.permissions = frozenset(self.permissions)
            unknown = self.permissions - READ_PERMISSIONS
            if unknown:
                raise ValueError(f"Unknown permissions: {', '.join(sorted(unknown))}")

    @property
    def mode(self) -> str:
        return "live" if "_live_" in self.key[:8] else "test"

    @property
    def livemode(self) -> bool:
        return self.mode == "live"

    @property
    def masked(self) -> str:
        return mask_key(self.key)

    def allows(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions

    def __repr__(self):
        readable = "all" if self.permissions is None else sorted(self.permissions)
        return f"KeyGrant({self.masked}, reads={readable}, revoked={self.revoked})"


def full_access(key: str, account: str | None = None) -> KeyGrant:
    return KeyGrant(key, permissions=None, account=account)


class KeyTable:
    """The keys an emulator accepts; grant and revoke while it runs."""

    def __init__(self, grants=()):
        self._grants = {}
        for grant in grants:
            self.add(grant)

    def add(self, grant: KeyGrant) -> KeyGrant:
        self._grants[grant.key] = grant
        return grant

    def grant(self, key, permissions=None, account=None) -> KeyGrant:
        return self.add(KeyGrant(key, permissions=permissions, account=account))

    def revoke(self, key):
        grant = self._grants.get(key)
        if grant is None:
            raise KeyError(mask_key(key))
        grant.revoked = True

    def get(self, key) -> KeyGrant | None:
        return self._grants.get(key)

    def __len__(self):
        return len(self._grants)

    def __repr__(self):
        return f"KeyTable({sorted(g.masked for g in self._grants.values())})"
