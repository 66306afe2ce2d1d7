from django.db import migrations

from opscore.sqlfiles import read_sql


class Migration(migrations.Migration):
    dependencies = [
        ("missions", "0028_proposal_source_coding"),
    ]

    operations = [
        migrations.RunSQL(
            read_sql("missions", "claim_step_for_agent", 2),
            [
                "DROP FUNCTION IF EXISTS "
                "opscore_claim_step_for_agent(text, double precision, text, text[]);",
                read_sql("missions", "claim_step_for_agent", 1),
            ],
        ),
    ]
