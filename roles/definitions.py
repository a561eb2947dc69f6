"""Lumen's staff roles: Django groups, each a set of permissions, so that nobody but an
administrator needs to be a superuser. A user may hold several roles; "Full access" is apart
because it only adds card details to what the user's other roles show.

The groups are created by this app's migration, and brought back in line with this file after
every `migrate` (roles/apps.py). An administrator assigns a role under Authentication and
authorization → Users → a user → Groups. The README's "Roles" section says the same.
"""

# Every kind of record the mirror holds (connectors.models.mirror.MIRROR_MODELS and the
# account's balance); a test keeps this list in step with the models.
MIRROR = (
    "customer", "product", "price", "coupon", "promotioncode", "subscription",
    "subscriptionitem", "invoice", "invoicelineitem", "invoicepayment", "paymentintent",
    "charge", "refund", "dispute", "balancetransaction", "payout", "balance",
)  # fmt: skip

VIEWER = (
    *(f"connectors.view_{model}" for model in MIRROR),
    "connectors.view_stripeconnection",
    "connectors.view_syncrun",
    "reports.view_reportrun",
    "reports.view_reportcitation",
    "reports.view_reportschedule",
)

ANALYST = (
    *VIEWER,
    "reports.run_report",
    "reports.export_reportrun",
    "reports.add_reportschedule",
    "reports.change_reportschedule",
    "reports.delete_reportschedule",
    "connectors.export_mirror",
)

CONNECTION_ADMIN = (
    "connectors.view_stripeconnection",
    "connectors.add_stripeconnection",
    "connectors.change_stripeconnection",
    "connectors.delete_stripeconnection",
    "connectors.verify_stripeconnection",
    "connectors.sync_stripeconnection",
    "connectors.view_syncrun",
    "connectors.view_webhookendpoint",
    "connectors.add_webhookendpoint",
    "connectors.change_webhookendpoint",
    "connectors.delete_webhookendpoint",
    "connectors.view_webhookdelivery",
)

AUDITOR = (
    "audit.view_auditevent",
    "audit.export_auditevent",
    "audit.verify_auditevent",
)

FULL_ACCESS = ("connectors.view_card_details",)

ROLES = {
    "Viewer": VIEWER,
    "Analyst": ANALYST,
    "Connection admin": CONNECTION_ADMIN,
    "Auditor": AUDITOR,
    "Full access": FULL_ACCESS,
}

# What each role is for, as the README and the group list say it.
PURPOSE = {
    "Viewer": "browse the mirror and read report runs",
    "Analyst": "a Viewer who also runs reports, edits report schedules and exports",
    "Connection admin": "manage Stripe keys, webhooks and sync schedules; verify and sync",
    "Auditor": "view, export and verify the audit log",
    "Full access": "see card details (brand, last four, fingerprint, billing details); "
    "add it to a user beside another role",
}


def apply(apps, roles=ROLES, using="default"):
    """Make each group hold exactly its role's permissions, creating what is missing.

    Run from migrations, where permissions of a model added in the same `migrate` do not
    exist yet (Django creates them after the last migration), so they are created here the
    same way Django would: by content type and codename.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    for name, codes in roles.items():
        permissions = []
        for code in codes:
            app_label, codename = code.split(".")
            model = model_of(apps, app_label, codename)
            content_type, _ = ContentType.objects.using(using).get_or_create(
                app_label=app_label, model=model._meta.model_name
            )
            permission, _ = Permission.objects.using(using).get_or_create(
                content_type=content_type,
                codename=codename,
                defaults={"name": permission_name(model, codename)},
            )
            permissions.append(permission)
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(permissions)


def model_of(apps, app_label, codename):
    """The model a permission belongs to: the one whose Meta.permissions declares it, or
    the one its name ends with (view_charge → Charge, export_auditevent → AuditEvent, the
    permission django-import-export checks)."""
    models = list(apps.get_app_config(app_label).get_models())
    for model in models:
        if codename in {code for code, _ in model._meta.permissions}:
            return model
    for model in models:
        if codename.split("_", 1)[-1] == model._meta.model_name:
            return model
    raise LookupError(f"no model of {app_label} has the permission {codename}")


def permission_name(model, codename):
    for code, name in model._meta.permissions:
        if code == codename:
            return name
    action = codename.split("_", 1)[0]
    return f"Can {action} {model._meta.verbose_name_raw}"
