"""Move every stored secret to the first FIELD_ENCRYPTION_KEY, so the old one can be dropped.

Run with FIELD_ENCRYPTION_KEY=NEW,OLD: each secret still under OLD is written again under
NEW; one already under NEW is left as it is, so running it twice changes nothing. Every
secret is read before any is written: if one cannot be decrypted with any configured key,
the command says which and changes nothing. It prints counts, never a key.
"""

import getpass
import json

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.views.decorators.debug import sensitive_variables

from audit.recorder import Actor
from connectors.connections import record_action
from connectors.models import SecretField, StripeConnection, UndecryptableSecret


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, **options):
        current = Fernet(settings.FIELD_ENCRYPTION_KEY[0])
        stale = []  # (model, field name, pk)
        counts = {}
        for model, name in secret_fields():
            label = f"{model._meta.label}.{name}"
            counts[label] = {"reencrypted": 0, "current": 0}
            for pk, token in stored_tokens(model, name):
                if under(current, token):
                    counts[label]["current"] += 1
                else:
                    stale.append((model, name, pk))
                    counts[label]["reencrypted"] += 1
        actor = Actor.command(f"reencrypt_keys ({getpass.getuser()})")
        with transaction.atomic():
            for connection, fields in reencrypt(stale).items():
                record_action(
                    connection,
                    actor,
                    "connection.key_reencrypted",
                    "command:reencrypt_keys",
                    secrets=fields,
                    key=connection.masked_key,
                )
        if options["json"]:
            self.stdout.write(json.dumps({"secrets": counts}, indent=2))
            return
        for label, c in counts.items():
            self.stdout.write(
                f"{label}: {c['reencrypted']} re-encrypted, {c['current']} already on the "
                "current key"
            )
        if len(settings.FIELD_ENCRYPTION_KEY) > 1:
            self.stdout.write("Every secret is on the first key: the others can be dropped.")


def secret_fields():
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, SecretField):
                yield model, field.name


def stored_tokens(model, name):
    """(pk, the ciphertext as stored) of each row holding a secret. Each is decrypted too,
    so that one no configured key opens stops the command before anything is written."""
    rows = model.objects.annotate(stored_as=Cast(name, TextField())).values_list("pk", "stored_as")
    for pk, token in rows:
        if not token:
            continue
        try:
            model.objects.filter(pk=pk).values_list(name, flat=True).get()
        except UndecryptableSecret:
            raise CommandError(
                f"{model._meta.label} {pk}: its {name} cannot be decrypted with any key in "
                "FIELD_ENCRYPTION_KEY. Add the key it was encrypted with (NEW,OLD); nothing "
                "was changed."
            ) from None
        yield pk, token


def under(fernet, token):
    try:
        fernet.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


@sensitive_variables()
def reencrypt(stale):
    """Write each stale secret again (the field encrypts with the first key); returns the
    names of what changed, per connection."""
    changed = {}
    for model, name, pk in stale:
        row = model.objects.get(pk=pk)
        model.objects.filter(pk=pk).update(**{name: getattr(row, name)})
        connection = row if isinstance(row, StripeConnection) else row.connection
        changed.setdefault(connection, []).append(f"{model._meta.model_name}.{name}")
    return changed
