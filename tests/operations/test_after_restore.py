"""What a restore leaves for what comes after it: the restore's own row says all that happened
(the app role's hand-back too), and the drill drills a file that is there."""

from pathlib import Path

import psycopg
import pytest

from operations import restore
from operations.backups import BackupFailed, take_backup
from operations.management.commands.restore import HAND_BACK_FAILED
from operations.restore import restore_drill
from opscore.cli import main
from opscore.models import BackupRun, Event
from tests.operations.conftest import working_on


@pytest.fixture(autouse=True)
def quiet_checks(settings):
    settings.SILENCED_SYSTEM_CHECKS = ["opscore.W001", "opscore.W002", "opscore.W003"]


def test_a_restore_whose_hand_back_fails_says_so_in_its_row_and_exit_code(
    scratch, tmp_path, capsys, monkeypatch
):
    """The data was restored, then handing its objects back to the app role failed: the
    operator got one error line and no row, and could not tell a restore that happened from
    one that did not."""
    backup = take_backup(actor="t", directory=tmp_path)

    def refused(database):
        raise psycopg.errors.InsufficientPrivilege("must be owner of database")

    monkeypatch.setattr(restore, "hand_back_to_app_role", refused)
    with working_on(scratch):
        with pytest.raises(SystemExit) as exited:
            main(["opscore", "restore", "--from", backup.path, "--yes"])
        row = BackupRun.objects.get(kind="restore")

    assert exited.value.code == HAND_BACK_FAILED
    assert row.status == "succeeded" and row.path == backup.path
    assert "hand-back to the app role failed" in row.error
    assert "must be owner of database" in row.error
    assert "must be owner of database" in capsys.readouterr().err


def test_the_drill_drills_the_newest_backup_whose_file_is_there(transactional_db):
    """The newest backup's file was removed by hand (or by retention after a restore forgot
    its row): the drill failed on it every month while an older good file sat beside it."""
    older = take_backup(actor="t")
    newest = take_backup(actor="t")
    Path(newest.path).unlink()

    drill = restore_drill(actor="t")

    assert drill.status == "succeeded" and drill.source_id == older.id
    assert "is gone" in drill.detail["passed_over"][str(newest.id)]


def test_a_drill_with_no_file_left_is_a_failed_row_naming_every_missing_one(transactional_db):
    backups = [take_backup(actor="t") for _ in range(2)]
    Path(backups[0].path).unlink()
    with open(backups[1].path, "ab") as handle:
        handle.write(b"tampered")

    with pytest.raises(BackupFailed, match="no backup file to drill"):
        restore_drill(actor="t")

    drill = BackupRun.objects.get(kind="drill")
    assert drill.status == "failed"
    assert f"backup {backups[0].id}: {backups[0].path} is gone" in drill.error
    assert f"backup {backups[1].id}: {backups[1].path} does not match" in drill.error


def test_backup_files_a_restore_forgot_are_registered_for_retention(scratch, settings):
    """A restore brings the BackupRun rows back to its backup's moment: the files taken after
    it had no row, so retention (which touches only files with one) never pruned them and they
    piled up on disk unseen."""
    first, later = take_backup(actor="t"), take_backup(actor="t")
    (Path(first.path).parent / "notes.txt").write_text("not a backup")  # left alone

    with working_on(scratch):
        main(["opscore", "restore", "--from", first.path, "--yes"])
        rows = {row.path: row for row in BackupRun.objects.filter(kind="backup")}
        restored = BackupRun.objects.get(kind="restore")
        event = Event.objects.get(kind="backup.registered")

    assert sorted(rows) == sorted([first.path, later.path])
    row = rows[later.path]
    assert (row.status, row.sha256, row.size_bytes) == ("succeeded", later.sha256, later.size_bytes)
    assert row.pruned_at is None and row.detail["registered_by_restore"] == restored.id
    assert restored.detail["registered_backups"] == [first.path, later.path]
    assert event.payload["paths"] == [first.path, later.path]


def test_a_drill_of_a_registered_backup_says_it_had_no_manifest_to_compare(transactional_db):
    backup = take_backup(actor="t")
    BackupRun.objects.filter(pk=backup.pk).update(manifest={})  # as a registered one has

    drill = restore_drill(actor="t")

    assert drill.detail["compared_with_manifest"] is False
