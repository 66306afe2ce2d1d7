"""What pg_restore and pg_dump say on failure is kept in the run's row and printed; on a
corrupt or hostile file Postgres quotes the row it choked on (a COPY line, a key, a failing
row, the command), which may be a secret from a table. The row and the message keep what
failed and where, not the data, and a tool that says pages keeps a bounded line."""

from pathlib import Path

import pytest

from operations.backups import TOOL_SAID_CHARS, BackupFailed, take_backup
from operations.restore import restore_drill
from opscore.models import BackupRun

SECRET = "hunter2-from-a-row"

SAID = "\n".join(
    (
        'pg_restore: error: COPY failed for table "vault": ERROR:  invalid input syntax'
        f' for type integer: "{SECRET}"',
        f'CONTEXT:  COPY vault, line 1, column n: "{SECRET}"',
        "pg_restore: error: could not execute query: ERROR:  duplicate key value violates"
        ' unique constraint "vault_pkey"',
        f"DETAIL:  Key (name)=({SECRET}) already exists.",
        'pg_restore: error: could not execute query: ERROR:  new row for relation "vault"'
        ' violates check constraint "c"',
        f"DETAIL:  Failing row contains (1, {SECRET}).",
        f"Command was: INSERT INTO public.vault VALUES (1, '{SECRET}');",
        "pg_restore: warning: errors ignored on restore: 3",
    )
)


def a_failing_pg_restore(bin_dir: Path, said: str, settings) -> None:
    bin_dir.mkdir()
    (bin_dir / "said").write_text(said)
    tool = bin_dir / "pg_restore"
    tool.write_text(f'#!/bin/sh\ncat "{bin_dir / "said"}" >&2\nexit 1\n')
    tool.chmod(0o755)
    settings.OPS_PG_BIN_DIR = str(bin_dir)


@pytest.mark.django_db
def test_a_drill_failing_on_a_row_keeps_what_failed_not_the_row(tmp_path, settings):
    take_backup(actor="t", directory=tmp_path / "backups")
    a_failing_pg_restore(tmp_path / "bin", SAID, settings)

    with pytest.raises(BackupFailed) as failed:
        restore_drill(actor="t")

    run = BackupRun.objects.get(kind="drill")
    for said in (run.error, str(failed.value)):
        assert SECRET not in said, said
        assert 'COPY failed for table "vault"' in said and "vault_pkey" in said
        assert "Key (name)=" in said and "errors ignored on restore: 3" in said


@pytest.mark.django_db
def test_a_tool_that_says_pages_is_kept_to_a_bounded_line(tmp_path, settings):
    take_backup(actor="t", directory=tmp_path / "backups")
    a_failing_pg_restore(tmp_path / "bin", "pg_restore: error: x\n" * 5000, settings)

    with pytest.raises(BackupFailed):
        restore_drill(actor="t")

    error = BackupRun.objects.get(kind="drill").error
    assert len(error) <= TOOL_SAID_CHARS + 100 and error.endswith("…"), len(error)
