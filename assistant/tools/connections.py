"""The connections (Stripe accounts) Lumen mirrors, their balances, and syncing one."""

import time
from typing import Annotated

from django.db import transaction
from django.urls import reverse
from pydantic import BaseModel, Field

from assistant import arguments
from assistant.calls import current, tool
from assistant.shapes import Answer, Money, absolute, admin_url, moment, totals
from connectors import connections as staff_actions
from connectors.models import Balance, StripeConnection, SyncRun

# How long `sync` waits for a worker to start the run it queued, so that it can answer
# with the run's id; a busy or stopped worker leaves it queued, and the answer says so.
SYNC_START_WAIT = 3.0


class Connection(BaseModel):
    name: str = Field(description="What the other tools' `connection` argument takes.")
    mode: str = Field(description="live or test.")
    account_id: str
    account_name: str
    health: str = Field(description="ok, failing, or unverified.")
    health_reason: str
    last_synced: str | None = Field(
        description="When the mirror was last brought up to date (ISO 8601 UTC); the "
        "answers of every other tool are as of then."
    )
    admin: str = Field(description="The connection's page in Lumen's admin.")


class Connections(Answer):
    connections: list[Connection]

    def record_count(self):
        return len(self.connections)


@tool(title="List connections", permission="connectors.view_stripeconnection")
def list_connections() -> Connections:
    """The Stripe accounts Lumen mirrors: name, live or test mode, account, health, and when
    each was last synced. Start here: every other tool's `connection` argument is one of
    these names, and their answers are as of `last_synced`."""
    rows = StripeConnection.objects.defer("secret_key").order_by("name")
    return Connections(
        connections=[
            Connection(
                name=c.name,
                mode=c.mode,
                account_id=c.account_id,
                account_name=c.account_name,
                health=c.health,
                health_reason=c.health_reason,
                last_synced=moment(c.data_as_of),
                admin=admin_url(c),
            )
            for c in rows
        ]
    )


class AccountBalance(BaseModel):
    connection: str
    available: list[Money] = Field(description="Available to pay out, per currency.")
    pending: list[Money] = Field(description="Not available yet, per currency.")
    as_of: str | None = Field(description="When it was read from Stripe (ISO 8601 UTC).")


class Balances(Answer):
    balances: list[AccountBalance]

    def record_count(self):
        return len(self.balances)


@tool(title="Balance", permission="connectors.view_balance")
def balance(connection: arguments.ConnectionName = None) -> Balances:
    """The Stripe balance of each connection (or of the one named): available and pending,
    per currency, as last read from Stripe by a sync."""
    names = arguments.connections(connection)
    rows = Balance.objects.filter(connection_id__in=names).order_by("connection__name")
    return Balances(
        balances=[
            AccountBalance(
                connection=names[b.connection_id],
                available=totals(b.amounts("available")),
                pending=totals(b.amounts("pending")),
                as_of=moment(b.observed_at),
            )
            for b in rows
        ]
    )


class SyncStarted(Answer):
    connection: str
    sync_run: int | None = Field(description="The run's id, once a worker has started it.")
    status: str = Field(description="queued, running, succeeded, failed or skipped.")
    progress: str = Field(description="Where to follow it in Lumen's admin.")
    message: str


@tool(title="Sync a connection", permission="connectors.sync_stripeconnection", reaches_stripe=True)
def sync(
    connection: Annotated[str, Field(description="The name of the connection to sync.")],
) -> SyncStarted:
    """Bring a connection's mirror up to date with Stripe: queues a sync (read-only, through
    Lumen's audited door to Stripe) and answers with the run and where to follow it. Only
    for connection admins. Use it when list_connections shows an old last_synced; the other
    tools answer from the mirror as it is."""
    chosen = arguments.connection(connection)
    before = SyncRun.objects.filter(connection=chosen).order_by("-pk").values_list("pk", flat=True)
    before = before.first() or 0
    # The sync is queued once this commits (connections.sync_now), as "Sync now" does.
    with transaction.atomic():
        staff_actions.sync_now(chosen, user=current().user)
    deadline = time.monotonic() + SYNC_START_WAIT
    run = None
    while run is None:
        run = SyncRun.objects.filter(connection=chosen, pk__gt=before).order_by("pk").first()
        if run is not None or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if run is None:
        progress = absolute(reverse("admin:connectors_syncrun_changelist"))
        return SyncStarted(
            connection=chosen.name,
            sync_run=None,
            status="queued",
            progress=f"{progress}?connection__id__exact={chosen.pk}",
            message="Queued: no worker has started it yet. Its run appears at `progress`.",
        )
    return SyncStarted(
        connection=chosen.name,
        sync_run=run.pk,
        status=run.status,
        progress=admin_url(run),
        message=run.message or str(run),
    )
