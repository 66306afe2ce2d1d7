from datetime import timedelta

from django.db import migrations, models
from django.db.models import Count, Sum
from django.db.models.functions import Now, TruncDate

from opscore.sqlfiles import install_sql

# The budget check summed every LLM call of the day before every call (5 ms at 10k calls a day,
# 18 ms at 50k); LLMSpend keeps the sums as calls are written. The last two days' calls get
# their spend day, in the configured time zone, and their sums; older calls keep none and are
# never counted (no budget reads them).


def count_recent_calls(apps, schema_editor):
    LLMCall = apps.get_model("opscore", "LLMCall")
    LLMSpend = apps.get_model("opscore", "LLMSpend")
    recent = LLMCall.objects.filter(created_at__gte=Now() - timedelta(days=2))
    recent.update(spend_day=TruncDate("created_at"))
    sums = (
        recent.exclude(cost_usd=0)
        .values("spend_day", "agent_id", "lane")
        .annotate(usd=Sum("cost_usd"), calls=Count("id"))
        .order_by()
    )
    LLMSpend.objects.bulk_create(
        LLMSpend(
            day=row["spend_day"],
            agent_slug=row["agent_id"] or "",
            lane=row["lane"],
            usd=row["usd"],
            calls=row["calls"],
        )
        for row in sums
    )


class Migration(migrations.Migration):
    dependencies = [
        ("opscore", "0020_hints_after_commit"),
    ]

    operations = [
        migrations.AddField(
            model_name="llmcall",
            name="spend_day",
            field=models.DateField(
                editable=False,
                help_text="the day whose budget it spends, in OPS_TIME_ZONE: set by the database as the row is written (LLMSpend)",
                null=True,
            ),
        ),
        migrations.CreateModel(
            name="LLMSpend",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                (
                    "agent_slug",
                    models.CharField(blank=True, help_text="'' for no agent", max_length=64),
                ),
                ("lane", models.CharField(max_length=20)),
                ("usd", models.DecimalField(decimal_places=6, default=0, max_digits=14)),
                ("calls", models.IntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "agent_slug", "lane"), name="llmspend_one_row"
                    )
                ],
            },
        ),
        migrations.RunPython(count_recent_calls, migrations.RunPython.noop),
        install_sql(
            "opscore",
            "llm_spend",
            1,
            drop="DROP TRIGGER IF EXISTS opscore_llmcall_spend_day ON opscore_llmcall; "
            "DROP TRIGGER IF EXISTS opscore_llmcall_spends ON opscore_llmcall; "
            "DROP TRIGGER IF EXISTS opscore_llmcall_spends_deleted ON opscore_llmcall; "
            "DROP TRIGGER IF EXISTS opscore_llmcall_spends_changed ON opscore_llmcall; "
            "DROP FUNCTION IF EXISTS opscore_llmcall_spends(); "
            "DROP FUNCTION IF EXISTS opscore_llmcall_spend_day(); "
            "DROP FUNCTION IF EXISTS opscore_llm_spend_add(date, text, text, numeric, integer);",
        ),
    ]
