"""Backups: a dump with its manifest, a drill that proves it, a restore that brings the
evidence back row for row, retention, and a drill that did not run showing up as missed."""

from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Now

from console.bootstrap import bootstrap
from missions.models import Worker
from operations.backups import (
    BackupFailed,
    connect,
    libpq_env,
    manifest,
    pg_tool,
    run_tool,
    take_backup,
)
from operations.restore import restore_drill, restore_from
from operations.retention import to_keep
from opscore.actions import record_event
from opscore.models import BackupRun, StandingOrder, StandingOrderRun
from opscore.standing_orders import check_gaps


def test_backup_drill_and_restore_bring_the_evidence_back_row_for_row(scratch, agent):
    for n in range(5):
        record_event("test.fact", f"fact {n}", agent=agent)
    out = StringIO()

    call_command("backup", stdout=out)
    backup = BackupRun.objects.get(kind="backup")
    call_command("restore_drill", stdout=out)
    record_event("test.fact", "after the backup", agent=agent)  # not in the file
    result = restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)

    assert backup.manifest["opscore_event"]["rows"] == 5
    drill = BackupRun.objects.get(kind="drill")
    assert drill.status == "succeeded" and drill.detail["mismatched"] == {}
    assert "measured recovery time" in out.getvalue()
    with connect(scratch) as restored:
        assert manifest(restored) == backup.manifest
    assert result["database"] == scratch


def test_a_changed_file_fails_the_drill_with_the_reason(transactional_db):
    backup = take_backup(actor="t")
    with open(backup.path, "ab") as handle:
        handle.write(b"tampered")

    with pytest.raises(BackupFailed, match="does not match its checksum"):
        restore_drill(actor="t")

    drill = BackupRun.objects.get(kind="drill")
    assert drill.status == "failed" and "checksum" in drill.error


def test_restore_refuses_without_yes_and_while_workers_are_live(db, tmp_path):
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"")

    with pytest.raises(BackupFailed, match="pass --yes"):
        restore_from(dump, actor="t", confirmed=False)
    Worker.objects.create(worker_id="w", host="h", pid=1)
    Worker.objects.create(worker_id="gone", host="h", pid=2, stopped_at=Now())  # stopped cleanly
    with pytest.raises(BackupFailed, match="1 worker"):
        restore_from(dump, actor="t", confirmed=True)


def runs_every_day(days: int) -> list[BackupRun]:
    start = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    return [BackupRun(id=n, started_at=start - timedelta(days=n)) for n in range(days)]


def test_retention_keeps_seven_daily_four_weekly_three_monthly():
    backups = runs_every_day(120)

    kept = to_keep(backups)

    dates = sorted(b.started_at.date() for b in backups if b.id in kept)
    assert set(range(7)) <= kept  # the last seven days
    assert len({(d.isocalendar()[0], d.isocalendar()[1]) for d in dates}) >= 4
    assert len({(d.year, d.month) for d in dates}) == 3
    assert len(kept) <= 7 + 4 + 3 and 119 not in kept


def test_a_drill_that_did_not_run_is_missed(db):
    bootstrap(1, actor="t")
    order = StandingOrder.objects.get(name="audit-restore-drill")
    StandingOrder.objects.filter(pk=order.pk).update(created_at=datetime(2026, 1, 1, tzinfo=UTC))

    check_gaps(now=datetime(2027, 1, 1, 5, 0, tzinfo=UTC))

    missed = StandingOrderRun.objects.get(order=order)
    assert missed.status == "missed"
    assert missed.scheduled_for == datetime(2027, 1, 1, 4, 0, tzinfo=UTC)


def test_another_databases_drill_in_flight_on_the_same_server_does_not_fail_ours(
    transactional_db, agent
):
    """Run ids count per database, database names per server: a second install (or a parallel
    test run) whose drill N is restoring has its scratch database named for its own."""
    take_backup(actor="t")
    probe = BackupRun.objects.create(kind="drill", status="failed", actor="t")
    theirs = f"opscore_drill_{probe.id + 1}"  # what our next drill was named, whoever we were
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{theirs}"')
    try:
        drill = restore_drill(actor="t")
        assert drill.status == "succeeded" and drill.detail["scratch_database"] != theirs
    finally:
        with connect("postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{theirs}" WITH (FORCE)')


def test_a_backup_to_a_relative_directory_is_recorded_where_any_process_finds_it(
    transactional_db, tmp_path, monkeypatch
):
    """`opscore backup --dir backups` recorded 'backups/opscore-….dump': the drill, run by a
    worker standing elsewhere, then called the backup gone."""
    monkeypatch.chdir(tmp_path)
    call_command("backup", "--dir", "backups", stdout=StringIO())
    monkeypatch.chdir("/")

    backup = BackupRun.objects.get(kind="backup")
    assert backup.path == str(tmp_path / "backups" / Path(backup.path).name)
    assert restore_drill(actor="t").status == "succeeded"


def test_retention_in_one_directory_leaves_a_sibling_directorys_backups_alone(clock, tmp_path):
    """`backup --dir /srv/backups` matched every path that merely began with those words:
    the thirty daily files an operator kept in /srv/backups-archive were counted with its own
    and 21 of them deleted."""
    clock.freeze(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    archive = tmp_path / "backups-archive"
    archive.mkdir()
    for n, day in enumerate(runs_every_day(30)):
        kept_by_hand = archive / f"opscore-{n:06d}.dump"
        kept_by_hand.write_bytes(b"an older backup")
        BackupRun.objects.create(
            kind="backup",
            status="succeeded",
            actor="t",
            path=str(kept_by_hand),
            started_at=day.started_at,
        )

    made = take_backup(actor="t", directory=tmp_path / "backups")

    assert made.detail["pruned"] == []
    assert len(list(archive.iterdir())) == 30
    assert not BackupRun.objects.filter(pruned_at__isnull=False).exists()


def test_a_restored_database_shows_no_backup_still_running(scratch):
    """The backup's own row went into its file as `running` (written before the dump's
    snapshot): once restored, admin → Backup runs showed that backup running for ever, with
    neither an end nor a reason."""
    backup = take_backup(actor="t")

    restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)

    with connect(scratch) as restored:
        rows = restored.execute("SELECT id, status FROM opscore_backuprun").fetchall()
    assert [status for _, status in rows if status == "running"] == []


def test_a_backup_holding_a_retired_apps_migrations_still_restores(scratch):
    """Only this code's own apps can say a backup is newer: rows of an app a version dropped
    are history, not a schema this one cannot read."""
    from django.db import connection

    retired = ("a_retired_lane", "0001_initial")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())", retired
        )
    try:
        backup = take_backup(actor="t")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM django_migrations WHERE app = %s", retired[:1])

    result = restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)

    assert result["database"] == scratch and result["migrations_to_apply"] == 0


def test_a_restore_from_a_file_changed_since_its_backup_is_refused(scratch):
    """The drill refused a file that no longer matched the checksum its backup recorded, but a
    restore took it as it was: whatever changed it (a bad disk, a copy cut short and padded, a
    hand) was restored over everything without a word."""
    backup = take_backup(actor="t")
    with open(backup.path, "ab") as handle:
        handle.write(b"tampered")

    with pytest.raises(BackupFailed, match=f"checksum backup {backup.id} recorded"):
        restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)

    row = BackupRun.objects.get(kind="restore")
    assert row.status == "failed" and "checksum" in row.error


def test_another_django_projects_dump_is_refused_as_not_an_opscore_backup(scratch, tmp_path):
    """Any Django project's dump holds django_migrations rows of apps Opscore has too (auth,
    sessions): such a file passed as a backup, and `--clean` replaced our users and sessions
    with that project's, leaving every Opscore table beside them."""
    with connect(scratch, autocommit=True) as foreign:
        foreign.execute("CREATE TABLE django_migrations (id serial, app text, name text)")
        foreign.execute(
            "INSERT INTO django_migrations (app, name) VALUES"
            " ('contenttypes', '0001_initial'), ('auth', '0001_initial')"
        )
        foreign.execute("CREATE TABLE auth_user (id serial, username text)")
    dump = tmp_path / "theirs.dump"
    run_tool([pg_tool("pg_dump"), "-Fc", "-f", str(dump)], libpq_env(scratch))

    with pytest.raises(BackupFailed, match="not an Opscore backup"):
        restore_from(dump, actor="t", confirmed=True, database=scratch)

    row = BackupRun.objects.get(kind="restore")
    assert row.status == "failed" and "not an Opscore backup" in row.error


def test_a_changed_file_named_through_a_link_or_dots_is_refused_all_the_same(scratch, tmp_path):
    """The checksum check found the backup's row by the path exactly as typed: the same file
    named through a symlinked folder or `backups/../backups/…` had no row, and its changed
    bytes were restored over everything."""
    backup = take_backup(actor="t", directory=tmp_path / "backups")
    with open(backup.path, "ab") as handle:
        handle.write(b"tampered")
    (tmp_path / "link").symlink_to(tmp_path / "backups")
    name = Path(backup.path).name

    for spelled in (tmp_path / "link" / name, tmp_path / "backups" / ".." / "backups" / name):
        with pytest.raises(BackupFailed, match=f"checksum backup {backup.id} recorded"):
            restore_from(spelled, actor="t", confirmed=True, database=scratch)


def test_a_restore_onto_a_new_hosts_empty_database_restores(scratch, tmp_path, capsys):
    """Moving to a new host: an empty database, then `opscore restore --from … --yes` before
    any `make run`. The refusals asked the database for live workers and recorded backups in
    tables it did not have yet, and the restore was a traceback."""
    from opscore.cli import main

    backup = take_backup(actor="t", directory=tmp_path)
    ours = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = scratch
    try:
        main(["opscore", "restore", "--from", backup.path, "--yes", "--json"])
        restored = BackupRun.objects.get(kind="restore")
    finally:
        connection.close()
        connection.settings_dict["NAME"] = ours

    assert restored.status == "succeeded" and restored.path == backup.path
    assert f'"database": "{scratch}"' in capsys.readouterr().out


def test_a_restore_while_another_session_holds_a_table_is_refused_not_left_waiting(scratch):
    """A session left open on the database (a psql `BEGIN; SELECT …`, a request being served)
    holds a table: pg_restore's DROP waited behind it the tool's hour in silence, then failed."""
    backup = take_backup(actor="t")
    restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)

    with connect(scratch) as holder:
        holder.execute("SET application_name = 'psql'")
        holder.execute("SELECT count(*) FROM opscore_event")  # its transaction stays open
        with pytest.raises(BackupFailed, match=r"1 other session\(s\) are connected"):
            restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)
        holder.rollback()

    row = BackupRun.objects.get(kind="restore", status="failed")
    assert "psql (idle in transaction)" in row.error


def test_a_restore_that_would_leave_tables_the_backup_lacks_is_refused(scratch):
    """An older backup restored over a newer schema: `--clean` drops only what the file holds,
    so a table a later migration made stayed (with rows from after the backup) while the file's
    django_migrations said it was never made: `make run`'s migrate then failed on it."""
    backup = take_backup(actor="t")
    restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)
    with connect(scratch, autocommit=True) as newer:
        newer.execute("CREATE TABLE opscore_newer (id serial primary key)")

    with pytest.raises(BackupFailed, match="1 table\\(s\\) the backup does not have"):
        restore_from(Path(backup.path), actor="t", confirmed=True, database=scratch)

    row = BackupRun.objects.get(kind="restore", status="failed")
    assert "opscore_newer" in row.error
