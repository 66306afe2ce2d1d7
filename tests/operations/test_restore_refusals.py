"""A restore that is refused or fails says why in one line, exits non-zero without a
traceback, leaves the live database as it was, and is a `failed` BackupRun row with the reason
(every backup, drill and restore is one): a garbage or truncated file, a missing one, a
directory, live workers, no --yes, a restore the database refuses half-way."""

from pathlib import Path

import pytest

from missions.models import Worker
from operations.backups import take_backup
from operations.restore import restore_drill
from opscore.actions import record_event
from opscore.cli import main
from opscore.models import BackupRun, Event


@pytest.fixture(autouse=True)
def quiet_checks(settings):
    settings.SILENCED_SYSTEM_CHECKS = ["opscore.W001", "opscore.W002", "opscore.W003"]


def restore(capsys, *words) -> tuple[int, str]:
    with pytest.raises(SystemExit) as refused:
        main(["opscore", "restore", *words])
    return refused.value.code, capsys.readouterr().err.strip()


def evidence(agent) -> list[int]:
    for n in range(3):
        record_event("test.fact", f"fact {n}", agent=agent)
    return sorted(Event.objects.values_list("id", flat=True))


def a_truncated_dump(tmp_path: Path) -> Path:
    whole = Path(take_backup(actor="t", directory=tmp_path / "backups").path).read_bytes()
    cut = tmp_path / "cut.dump"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    return cut


def hostile_file(kind: str, tmp_path: Path) -> tuple[Path, str]:
    if kind == "garbage":
        path = tmp_path / "garbage.dump"
        path.write_bytes(b"PGDMP\x00not a dump at all" * 40)
        return path, "pg_restore exited 1"
    if kind == "truncated":
        return a_truncated_dump(tmp_path), "end of file"
    if kind == "directory":
        return tmp_path, "is not a file"
    return tmp_path / "nonexistent.dump", "does not exist"


@pytest.mark.parametrize("kind", ["garbage", "truncated", "directory", "missing"])
def test_a_restore_from_a_bad_file_is_one_line_a_row_and_loses_nothing(
    transactional_db, agent, capsys, tmp_path, kind
):
    path, says = hostile_file(kind, tmp_path)
    before = evidence(agent)
    backups = list(BackupRun.objects.values_list("id", flat=True))

    code, said = restore(capsys, "--from", str(path), "--yes")

    assert code == 2 and "Traceback" not in said
    assert said.count("\n") == 0 and said.startswith("CommandError: restore refused: "), said
    assert says in said
    assert sorted(Event.objects.values_list("id", flat=True)) == before
    row = BackupRun.objects.exclude(id__in=backups).get()
    assert (row.kind, row.status, row.path) == ("restore", "failed", str(path))
    assert says in row.error and row.finished_at is not None


@pytest.fixture
def alone_on_the_test_database(transactional_db):
    """This restore goes into the worker's own test database, where the refusal of other
    sessions looks too: an earlier test that ran a step started the process's lease keeper
    (missions.worker.LEASES), whose thread keeps its own idle connection for the worker's
    life, and the restore was refused for it instead of reaching pg_restore."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )


def test_a_restore_the_database_refuses_half_way_says_so_in_one_line(
    alone_on_the_test_database, agent, capsys, tmp_path
):
    """A view of the operator's on an evidence table: pg_restore's --clean cannot drop the
    table, and says so over six lines (TOC entry, DETAIL, HINT, the command)."""
    from django.db import connection

    dump = take_backup(actor="t", directory=tmp_path).path
    before = evidence(agent)
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIEW report_facts AS SELECT id FROM opscore_event")
    try:
        code, said = restore(capsys, "--from", dump, "--yes")
        rows = sorted(Event.objects.values_list("id", flat=True))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW IF EXISTS report_facts")

    assert code == 2 and said.count("\n") == 0, said
    assert "other objects depend on it" in said
    assert rows == before
    row = BackupRun.objects.get(kind="restore")
    assert row.status == "failed" and "\n" not in row.error


@pytest.mark.django_db(transaction=True)  # the command closes the connection it leaves
def test_refusals_are_rows_too_and_name_the_file_wherever_it_was_typed(
    capsys, tmp_path, monkeypatch
):
    (tmp_path / "x.dump").write_bytes(b"")
    monkeypatch.chdir(tmp_path)

    unconfirmed, _ = restore(capsys, "--from", "x.dump")
    Worker.objects.create(worker_id="w", host="h", pid=1)
    live, said = restore(capsys, "--from", "x.dump", "--yes")

    assert (unconfirmed, live) == (2, 2) and "1 worker(s) are live" in said
    rows = BackupRun.objects.filter(kind="restore", status="failed").order_by("id")
    assert [r.path for r in rows] == [str(tmp_path / "x.dump")] * 2
    assert "pass --yes" in rows[0].error and "live" in rows[1].error


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("given", ["", " "])
def test_an_empty_from_is_refused_not_read_as_the_current_directory(capsys, given):
    code, said = restore(capsys, "--from", given, "--yes")

    assert code == 2 and said.count("\n") == 0 and "empty path" in said, said


@pytest.mark.django_db
def test_a_drill_with_no_backup_to_drill_is_a_failed_row_with_the_reason():
    from operations.backups import BackupFailed

    with pytest.raises(BackupFailed, match="no backup to drill"):
        restore_drill(actor="t")

    drill = BackupRun.objects.get(kind="drill")
    assert drill.status == "failed" and "no backup to drill" in drill.error


@pytest.fixture
def a_migration_from_the_future(transactional_db):
    """A row in django_migrations that this code has no file for: what a newer Opscore's
    migrate leaves behind. Removed again whatever the test did (the old code restored it)."""
    from django.db import connection

    future = ("opscore", "9999_from_a_newer_opscore")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", future
        )
    yield future
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s", future)


def test_a_backup_from_a_newer_schema_is_refused_before_anything_is_replaced(
    a_migration_from_the_future, agent, capsys, tmp_path
):
    """A dump a newer Opscore made restored without a word: this version then ran on tables
    it does not know (columns it never fills, rows it cannot read), with no migration to undo."""
    from django.db import connection

    dump = take_backup(actor="t", directory=tmp_path).path
    with connection.cursor() as cursor:  # this install is the older version
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = %s AND name = %s",
            a_migration_from_the_future,
        )
    before = evidence(agent)

    code, said = restore(capsys, "--from", dump, "--yes")

    assert code == 2 and said.count("\n") == 0, said
    assert "newer" in said and "opscore.9999_from_a_newer_opscore" in said
    assert sorted(Event.objects.values_list("id", flat=True)) == before
    row = BackupRun.objects.get(kind="restore")
    assert row.status == "failed" and "newer" in row.error


@pytest.mark.django_db(transaction=True)
def test_a_restore_from_a_path_too_long_for_its_row_is_still_a_refusal_row(capsys, tmp_path):
    """Its refusal row could not be written (the path column holds 500 characters): the answer
    was the database's 'value too long' (exit 1) and no row said a restore was refused."""
    far = tmp_path / ("d" * 250) / ("e" * 250) / "x.dump"

    code, said = restore(capsys, "--from", str(far), "--yes")

    assert code == 2 and "does not exist" in said, said
    row = BackupRun.objects.get(kind="restore")
    assert row.status == "failed" and row.detail["path"] == str(far)
