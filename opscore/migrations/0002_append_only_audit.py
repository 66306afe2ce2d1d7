from django.db import migrations

FORBID = """
CREATE OR REPLACE FUNCTION opscore_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

TABLES = ["opscore_event", "opscore_policyversion"]


def triggers(table):
    return f"""
    CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION opscore_forbid_change();
    """


class Migration(migrations.Migration):
    dependencies = [("opscore", "0001_initial")]

    operations = [
        migrations.RunSQL(FORBID, "DROP FUNCTION IF EXISTS opscore_forbid_change() CASCADE;"),
        *[
            migrations.RunSQL(triggers(t), f"DROP TRIGGER IF EXISTS {t}_append_only ON {t};")
            for t in TABLES
        ],
    ]
