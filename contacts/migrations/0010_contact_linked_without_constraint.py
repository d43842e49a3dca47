"""``Contact.linked`` without a foreign key constraint in the database: deleting a contact (an
erasure) checked it with a scan of the whole table per deleted row, as no index covers every
secondary; the services keep links pointing at live primaries (docs/privacy.md)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("contacts", "0009_privacy")]

    operations = [
        migrations.AlterField(
            model_name="contact",
            name="linked",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                help_text="The primary contact of this contact's cluster; empty on a primary.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="secondaries",
                to="contacts.contact",
            ),
        ),
    ]
