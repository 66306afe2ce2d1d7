"""Each event names its writing transaction; readers page by (xact, id) below the oldest
transaction still running. The column is added with a constant default first (no rewrite of a
large table: the rows already there read 0, all long committed), then defaults to the
writing transaction."""

from django.db import migrations, models

import opscore.models.events

ADD = (
    "ALTER TABLE opscore_event ADD COLUMN xact bigint NOT NULL DEFAULT 0;"
    " ALTER TABLE opscore_event ALTER COLUMN xact SET DEFAULT (pg_current_xact_id()::text::bigint)"
)
DROP = "ALTER TABLE opscore_event DROP COLUMN xact"


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0070_trigger_skips_protect_their_rule"),
        ("opscore", "0026_standing_order_minutes_bounded"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD, DROP)],
            state_operations=[
                migrations.AddField(
                    model_name="event",
                    name="xact",
                    field=models.BigIntegerField(
                        db_default=opscore.models.events.WritingTransaction(), editable=False
                    ),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["xact", "id"], name="event_xact_idx"),
        ),
    ]
