"""The blocklist shipped with the service (docs/governance.md): exact values and one narrow
pattern only, never a whole domain, never a value of SPEC §4's worked examples."""

import random

from django.db import migrations

PLACEHOLDER_EMAILS = [
    "test@test.com",
    "noemail@noemail.com",
    "no@email.com",
    "none@none.com",
    "email@email.com",
    "na@na.com",
    "null@null.com",
]
REPEATED_DIGIT = r"\+?(\d)\1{6,}"


def add_defaults(apps, schema_editor):
    BlockedIdentifier = apps.get_model("contacts", "BlockedIdentifier")
    GovernanceVersion = apps.get_model("contacts", "GovernanceVersion")
    BlockedIdentifier.objects.bulk_create(
        [
            BlockedIdentifier(
                kind="email", match="exact", value=email, reason="well-known placeholder"
            )
            for email in PLACEHOLDER_EMAILS
        ]
        + [
            BlockedIdentifier(
                kind="phone",
                match="pattern",
                value=REPEATED_DIGIT,
                reason="seven or more of one digit (0000000000)",
            )
        ],
        ignore_conflicts=True,
    )
    IdentityLink = apps.get_model("contacts", "IdentityLink")
    IdentityLink.objects.filter(email__in=PLACEHOLDER_EMAILS).update(blocked=True)
    IdentityLink.objects.filter(phone_number__regex=rf"^(?:{REPEATED_DIGIT})$").update(blocked=True)
    GovernanceVersion.objects.update_or_create(
        id=1, defaults={"token": random.randint(1, 2**62)}
    )


def remove_defaults(apps, schema_editor):
    BlockedIdentifier = apps.get_model("contacts", "BlockedIdentifier")
    BlockedIdentifier.objects.filter(kind="email", match="exact", value__in=PLACEHOLDER_EMAILS).delete()
    BlockedIdentifier.objects.filter(kind="phone", match="pattern", value=REPEATED_DIGIT).delete()


class Migration(migrations.Migration):
    dependencies = [("contacts", "0007_governance")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
