"""A step that ended while blocked (its words refused) kept its blocked reason and code, and the
Stage went on saying what it waited for. Step.finish now clears them; this clears the rows
that ended before it did."""

from django.db import migrations

CLEAR = """
UPDATE missions_step SET blocked_reason = '', blocked_code = ''
WHERE status IN ('succeeded', 'failed', 'dead', 'cancelled')
  AND (blocked_reason <> '' OR blocked_code <> '')
"""


class Migration(migrations.Migration):
    dependencies = [("missions", "0058_proposal_source_labels")]

    operations = [migrations.RunSQL(CLEAR, migrations.RunSQL.noop)]
