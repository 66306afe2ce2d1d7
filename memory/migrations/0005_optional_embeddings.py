"""The embedding column, only where the server has pgvector (the embedded one ships it; on
another server, only if it is installed). Without it retrieval ranks by full text alone."""

from django.db import migrations

COLUMNS = """ALTER TABLE memory_memory ADD COLUMN IF NOT EXISTS embedding vector,
    ADD COLUMN IF NOT EXISTS embedding_model text"""


def add_if_available(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        if cursor.fetchone() is None:
            return
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cursor.execute(COLUMNS)


def drop(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE memory_memory DROP COLUMN IF EXISTS embedding, "
            "DROP COLUMN IF EXISTS embedding_model"
        )


class Migration(migrations.Migration):
    dependencies = [("memory", "0004_candidate_source_refs")]

    operations = [migrations.RunPython(add_if_available, drop)]
