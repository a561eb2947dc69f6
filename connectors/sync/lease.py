"""One sync per connection at a time, across processes and machines.

A sync claims its connection with a compare-and-set update and renews the claim (a lease)
as it goes. A claim whose lease has run out, or whose holder is a process on this machine
that no longer exists (a worker killed with SIGKILL), is taken over.
"""

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from connectors.models import StripeConnection


def holder_name():
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_dead(holder):
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine: only its lease running out tells
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def claim(connection):
    """Claim the connection for this process. Returns True if claimed."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.LUMEN_SYNC_LEASE_SECONDS)
    me = holder_name()
    free = Q(sync_holder="") | Q(sync_lease_until__lt=now) | Q(sync_holder=me)
    if StripeConnection.objects.filter(free, pk=connection.pk).update(
        sync_holder=me, sync_lease_until=lease
    ):
        return True
    current = StripeConnection.objects.filter(pk=connection.pk).values("sync_holder").first()
    if current and holder_is_dead(current["sync_holder"]):
        # Compare-and-set on the dead holder's name: of two processes that both saw it
        # dead, one takes it over.
        return bool(
            StripeConnection.objects.filter(
                pk=connection.pk, sync_holder=current["sync_holder"]
            ).update(sync_holder=me, sync_lease_until=lease)
        )
    return False


def renew(connection):
    """Extend our lease. Returns False if another process has taken the connection over."""
    lease = timezone.now() + timedelta(seconds=settings.LUMEN_SYNC_LEASE_SECONDS)
    return bool(
        StripeConnection.objects.filter(pk=connection.pk, sync_holder=holder_name()).update(
            sync_lease_until=lease
        )
    )


def release(connection):
    StripeConnection.objects.filter(pk=connection.pk, sync_holder=holder_name()).update(
        sync_holder="", sync_lease_until=None
    )


def current_holder(connection):
    row = StripeConnection.objects.filter(pk=connection.pk).values(
        "sync_holder", "sync_lease_until"
    )
    return row.first() or {}


def syncing_now(connection):
    """The process syncing the connection now ("host:pid"), or "" when none is: no claim, a
    lease run out, or a holder on this machine that no longer exists."""
    row = current_holder(connection)
    holder, until = row.get("sync_holder", ""), row.get("sync_lease_until")
    if not holder or until is None or until < timezone.now() or holder_is_dead(holder):
        return ""
    return holder
