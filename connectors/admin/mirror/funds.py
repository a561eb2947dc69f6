"""Money movements: payouts (with what each paid out) and balance transactions."""

from django.contrib import admin
from django.db.models import Count, Sum
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from connectors.admin.mirror.base import (
    CreatedWithinFilter,
    MirrorAdmin,
    day_column,
    link_column,
    money_column,
    related_rows,
    related_section,
    value_filter,
)
from connectors.admin.mirror.display import money, readable, table
from connectors.admin.mirror.links import change_link, mirror_link, model_of
from connectors.models import BalanceTransaction, Payout
from connectors.money import format_amount, format_totals
from lumen.adminkit import flag_column, readable_column

PAYOUT_STATUSES = ["paid", "pending", "in_transit", "canceled", "failed"]
REPORTING_CATEGORIES = ["charge", "refund", "refund_failure", "dispute", "dispute_reversal",
                        "payout", "payout_reversal", "fee", "other_adjustment",
                        "transfer"]  # fmt: skip


def source_link(t):
    """The object a balance transaction records, whatever its kind."""
    return mirror_link(model_of(t.source), t.connection_id, t.source)


def balance_transaction_row(t):
    return (change_link(t), readable(t.type), money(t.amount, t.currency), money(t.fee, t.currency),
            money(t.net, t.currency), source_link(t))  # fmt: skip


@admin.register(Payout)
class PayoutAdmin(MirrorAdmin):
    list_display = ["arrival_day", "amount_money", "status_badge", "kind", "method_readable",
                    "created_at", "stripe_id", "view_in_stripe"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [value_filter("status", PAYOUT_STATUSES), "automatic", "connection"]
    search_fields = ["stripe_id", "balance_transaction"]
    search_help_text = "An exact payout or balance transaction id."
    detail_fields = ["amount_money", "arrival_day", "status_badge", "kind", "method_readable",
                     "balance_transaction_link", "created"]  # fmt: skip
    sections = [("What it paid out", "components")]

    kind = flag_column("automatic", "Kind", "Automatic", "Manual")

    method_readable = readable_column("method", "Method")

    balance_transaction_link = link_column(
        BalanceTransaction, "balance_transaction", "Its balance transaction"
    )
    arrival_day = day_column("arrival_date", "Arrival")

    @admin.display(description="Balance transactions")
    def components(self, payout):
        if not payout.automatic:
            return "A manual payout: Stripe does not say which transactions it paid out."
        # Without the payout's own transaction, should Stripe list it among them.
        rows = related_rows(BalanceTransaction, "payout", payout).exclude(source=payout.stripe_id)
        sums = list(
            rows.order_by("currency")
            .values("currency")
            .annotate(count=Count("pk"), amount=Sum("amount"), fee=Sum("fee"), net=Sum("net"))
        )
        if not sums:
            return "None in the mirror yet: the sync reads them once Stripe has made the payout."
        summary = table(
            ["Currency", "Transactions", "Gross", "Fees", "Net"],
            (
                (s["currency"].upper(), f"{s['count']:,}", money(s["amount"], s["currency"]),
                 money(s["fee"], s["currency"]), money(s["net"], s["currency"]))
                for s in sums
            ),
        )  # fmt: skip
        nets = {s["currency"]: s["net"] for s in sums}
        if nets == {payout.currency: payout.amount}:
            check = mark_safe('<p class="lumen-good">Their net adds up to the payout.</p>')  # noqa: S308
        else:
            check = format_html(
                '<p class="lumen-bad">Their net ({}) differs from the payout ({}).</p>',
                format_totals(nets),
                format_amount(payout.amount, payout.currency),
            )
        headers = ["Transaction", "Type", "Gross", "Fee", "Net", "Source"]
        listing = related_section(BalanceTransaction, "payout", payout, headers,
                                  balance_transaction_row, "transactions", rows)  # fmt: skip
        return format_html("{}{}<br>{}", summary, check, listing)


@admin.register(BalanceTransaction)
class BalanceTransactionAdmin(MirrorAdmin):
    list_display = ["created_at", "category", "net_money", "amount_money", "fee_money",
                    "available_day", "payout_link", "source_link", "stripe_id"]  # fmt: skip
    list_display_links = ["stripe_id"]
    list_filter = [value_filter("reporting_category", REPORTING_CATEGORIES, "category"),
                   CreatedWithinFilter, "connection"]  # fmt: skip
    search_fields = ["stripe_id", "source", "payout"]
    search_help_text = "An exact balance transaction, source or payout id."
    detail_fields = ["type_readable", "category", "status_badge", "amount_money", "fee_money",
                     "net_money", "available_day", "source_link", "payout_link",
                     "created"]  # fmt: skip

    amount_money = money_column("amount", "Gross")
    fee_money = money_column("fee", "Fee")
    net_money = money_column("net", "Net")
    payout_link = link_column(Payout, "payout", "Paid out in")
    available_day = day_column("available_on", "Available on")

    category = readable_column("reporting_category", "Category")

    type_readable = readable_column("type", "Type")

    @admin.display(description="Source", ordering="source")
    def source_link(self, transaction):
        return source_link(transaction)
