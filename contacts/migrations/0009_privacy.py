"""Erasure (docs/privacy.md): history keeps contact ids as plain numbers, so that an erased
contact's row can be deleted while the events about it stay; the erasure record and its ledger;
the ``privacy`` scope."""

import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models


def plain_id(name: str) -> list[migrations.operations.base.Operation]:
    """Drop the foreign key's constraint (in the database), then call the column a plain number
    (in Django's state only: the column, its values and its index stay as they are)."""
    return [
        migrations.AlterField(
            model_name="clusterevent",
            name=name,
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="events" if name == "contact" else "+",
                to="contacts.contact",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="clusterevent", name=name),
                migrations.AddField(
                    model_name="clusterevent",
                    name=f"{name}_id",
                    field=models.BigIntegerField(db_index=True, default=0),
                    preserve_default=False,
                ),
            ]
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_default_blocklist"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        *plain_id("contact"),
        *plain_id("primary"),
        migrations.AlterField(
            model_name="clusterevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("primary_created", "Primary created"),
                    ("secondary_added", "Secondary added"),
                    ("merged", "Clusters merged"),
                    ("split", "Cluster split"),
                    ("edited", "Contact edited"),
                    ("deleted", "Contact soft-deleted"),
                    ("restored", "Contact restored"),
                    ("repaired", "Links repaired"),
                    ("canonicalized", "Identifiers canonicalized"),
                    ("erased", "Contact erased"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=models.JSONField(
                default=list,
                help_text="What the key may call: identify, lookup, privacy (docs/api.md).",
            ),
        ),
        migrations.CreateModel(
            name="Erasure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "scope",
                    models.CharField(
                        choices=[
                            ("identifier", "The contacts carrying the identifier"),
                            ("identity", "Every contact of the identity"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "subject",
                    models.CharField(
                        help_text=(
                            "What named the person: an email, a phone number or a contact id."
                        ),
                        max_length=7,
                    ),
                ),
                ("subject_contact_id", models.BigIntegerField(blank=True, null=True)),
                ("reason", models.CharField(max_length=500)),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("api", "API"),
                            ("admin", "Admin"),
                            ("command", "Management command"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "requested_by",
                    models.CharField(
                        help_text="The staff user, the API key's prefix, or the command.",
                        max_length=150,
                    ),
                ),
                (
                    "request_id",
                    models.CharField(
                        blank=True,
                        help_text=(
                            "The caller's idempotency key: the same key answers the same erasure."
                        ),
                        max_length=100,
                        null=True,
                        unique=True,
                    ),
                ),
                (
                    "suppress",
                    models.BooleanField(
                        default=False,
                        help_text="Later requests carrying an erased value are refused.",
                    ),
                ),
                (
                    "replayed",
                    models.BooleanField(
                        default=False, help_text="Applied again from the ledger after a restore."
                    ),
                ),
                ("counts", models.JSONField(blank=True, default=dict)),
                (
                    "contact_ids",
                    models.JSONField(blank=True, default=list, help_text="The erased contacts."),
                ),
                (
                    "primary_ids",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="The primaries of what was left, after the erasure.",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "permissions": [("erase_person", "Can erase a person's data")],
            },
        ),
        migrations.CreateModel(
            name="ErasedIdentifier",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("email", "Email"), ("phone", "Phone number")], max_length=5
                    ),
                ),
                ("digest", models.CharField(max_length=64)),
                ("suppress", models.BooleanField(default=False)),
                (
                    "contacts",
                    models.PositiveIntegerField(default=0, help_text="Contacts that carried it."),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
                (
                    "erasure",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="identifiers",
                        to="contacts.erasure",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "indexes": [
                    models.Index(fields=["kind", "digest"], name="erased_identifier_digest")
                ],
            },
        ),
    ]
