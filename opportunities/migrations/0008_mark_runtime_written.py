"""Opportunities and ideas an outside runtime wrote before they were marked untrusted get the
mark now, so work converted from them later, by whoever converts it, waits for a person. An
external agent writes only through the agent bus, so its source agent says who wrote it."""

from django.db import migrations

WHY = "written by {}'s runtime through the agent bus (marked by migration)"


def mark(apps, schema_editor):
    for name in ("Opportunity", "Idea"):
        model = apps.get_model("opportunities", name)
        unmarked = model.objects.filter(source_agent__runtime="external", untrusted_reason="")
        for row in unmarked.only("id", "source_agent_id"):
            reason = WHY.format(row.source_agent_id)
            model.objects.filter(pk=row.pk).update(untrusted_reason=reason)


class Migration(migrations.Migration):
    dependencies = [
        ("opportunities", "0007_opportunity_goal"),
        ("opscore", "0021_llm_spend_ledger"),
    ]

    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
