"""A backup or drill that cannot finish says why in one line and leaves its run `failed`, never
`running`: a role that may log in but not create the drill's scratch database, a disk that fills
during the dump, a database restart that ends the dump's sessions and ours."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from operations.backups import BackupFailed, connect, pg_tool, sha256_of, take_backup
from operations.restore import restore_drill
from opscore.models import BackupRun

# The drill's own connections must log in as another role, which only DATABASES says: the
# override is the point here, and Django's warning that it is unusual is not news.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning")
# Roles belong to the whole server: one a worker, so two workers' tests never share one.
ROLE = "opscore_no_createdb" + os.environ.get("PYTEST_XDIST_WORKER", "")
ROLE_PASSWORD = "no-createdb-test-only"  # every role logs in with a password (scram)


@pytest.fixture
def drilling_without_createdb(db, settings):
    """A real role lacking CREATEDB; the drill's own connections log in as it (the test's
    Django connection stays the owner's)."""
    owner = settings.DATABASES
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {ROLE}")
        admin.execute(f"CREATE ROLE {ROLE} LOGIN NOCREATEDB PASSWORD '{ROLE_PASSWORD}'")
    login = {"USER": ROLE, "PASSWORD": ROLE_PASSWORD}
    settings.DATABASES = {**owner, "default": owner["default"] | login}
    admin = settings.OPS_DATABASE_ADMIN  # drills create databases as the admin role: this one
    settings.OPS_DATABASE_ADMIN = admin | login  # (no DATABASE_ADMIN_URL, a plain app role)
    yield
    settings.DATABASES, settings.OPS_DATABASE_ADMIN = owner, admin
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {ROLE}")


@pytest.fixture
def a_backup(db, tmp_path):
    path = tmp_path / "opscore.dump"
    path.write_bytes(b"a dump the drill never gets to restore")
    return BackupRun.objects.create(
        kind="backup", status="succeeded", actor="t", path=str(path), sha256=sha256_of(path)
    )


def test_a_drill_without_createdb_fails_with_the_reason_and_is_not_left_running(
    drilling_without_createdb, a_backup
):
    with pytest.raises(BackupFailed, match="CREATEDB"):
        restore_drill(actor="t")

    drill = BackupRun.objects.get(kind="drill")
    assert drill.status == "failed" and drill.finished_at is not None
    assert "permission denied to create database" in drill.error


def test_the_command_answers_one_json_error_without_createdb(
    drilling_without_createdb, a_backup, capsys
):
    with pytest.raises(SystemExit) as exit_:
        call_command("restore_drill", "--json")

    answer = json.loads(capsys.readouterr().out)
    assert exit_.value.code == 1
    assert answer["error"].startswith("restore drill failed: ")
    assert "CREATEDB" in answer["error"] and "\n" not in answer["error"]
    assert BackupRun.objects.get(kind="drill").status == "failed"


@pytest.mark.django_db
@pytest.mark.parametrize("as_json", [False, True])
def test_a_dir_that_cannot_hold_backups_is_one_line_not_a_traceback(tmp_path, capsys, as_json):
    a_file = tmp_path / "afile"
    a_file.write_text("")

    if as_json:
        with pytest.raises(SystemExit) as exit_:
            call_command("backup", "--dir", str(a_file), "--json")
        answer = json.loads(capsys.readouterr().out)
        assert exit_.value.code == 2 and answer["error"].startswith("backup refused: ")
    else:
        with pytest.raises(CommandError, match=r"backup refused: .*afile cannot hold backups"):
            call_command("backup", "--dir", str(a_file))
    assert not BackupRun.objects.exists()


def a_pg_dump(bin_dir: Path, script: str) -> None:
    """A pg_dump in OPS_PG_BIN_DIR: `script` (sh) runs first; "$out" is the file asked for."""
    bin_dir.mkdir()
    tool = bin_dir / "pg_dump"
    tool.write_text(
        f'#!/bin/sh\nfor a; do out="$a"; [ "$prev" = -f ] && break; prev="$a"; done\n{script}\n'
    )
    tool.chmod(0o755)


@pytest.mark.django_db
def test_a_dump_that_fills_the_disk_fails_with_the_reason_and_leaves_no_half_file(
    tmp_path, settings
):
    a_pg_dump(  # what pg_dump does when the disk fills: part of the file, then exit 1
        tmp_path / "bin",
        'printf "PGDMP half a dump" > "$out"\n'
        'echo "pg_dump: error: could not write to output file: No space left on device" >&2\n'
        "exit 1",
    )
    settings.OPS_PG_BIN_DIR = str(tmp_path / "bin")

    with pytest.raises(BackupFailed, match="No space left on device"):
        take_backup(actor="t", directory=tmp_path / "backups")

    run = BackupRun.objects.get()
    assert run.status == "failed" and "No space left on device" in run.error
    assert list((tmp_path / "backups").iterdir()) == []


@pytest.mark.django_db
def test_a_dump_that_cannot_be_read_back_for_its_checksum_fails_and_leaves_no_file(
    tmp_path, settings, monkeypatch
):
    """The checksum was read after the file had its final name, outside the failure handling:
    an error there left the row `running` (for three hours) beside a .dump no row vouched for."""
    a_pg_dump(tmp_path / "bin", 'printf "PGDMP a whole dump" > "$out"')
    settings.OPS_PG_BIN_DIR = str(tmp_path / "bin")

    def unreadable(path):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr("operations.backups.sha256_of", unreadable)

    with pytest.raises(BackupFailed, match="Input/output error"):
        take_backup(actor="t", directory=tmp_path / "backups")

    run = BackupRun.objects.get()
    assert run.status == "failed" and "Input/output error" in run.error
    assert list((tmp_path / "backups").iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_a_database_restart_during_the_dump_leaves_the_run_failed_not_running(tmp_path, settings):
    ended = (  # a restart, as every client sees it: its sessions are ended (57P01)
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    a_pg_dump(
        tmp_path / "bin",
        f'{pg_tool("psql")} -qAt -c "{ended}" >/dev/null\nexec {pg_tool("pg_dump")} "$@"',
    )
    settings.OPS_PG_BIN_DIR = str(tmp_path / "bin")

    with pytest.raises(BackupFailed):
        take_backup(actor="t", directory=tmp_path / "backups")

    run = BackupRun.objects.get()
    assert run.status == "failed" and run.finished_at is not None
    assert "invalid snapshot identifier" in run.error  # its snapshot ended with its session
    assert list((tmp_path / "backups").iterdir()) == []


@pytest.fixture
def silent_database_host():
    """A port that takes the connection and never says a word, as a host that stopped answering
    behind a firewall does: without a deadline, a connection to it waits for ever."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def backup_in_a_thread():
    """A backup run in its own thread, waited for 120 s: a hang guard, not a measure (each
    test's deadline is 1 s). Returns the thread, to ask if it still waits, and what failed it."""
    import threading

    outcome = []

    def back_up():
        try:
            take_backup(actor="test")
        except BackupFailed as failure:
            outcome.append(str(failure))

    worker = threading.Thread(target=back_up, daemon=True)
    worker.start()
    worker.join(timeout=120)
    return worker, outcome


def test_a_backup_against_a_host_that_stopped_answering_fails_instead_of_hanging(
    transactional_db, settings, silent_database_host
):
    """(Its own thread's connection writes the run: transactional, so it is cleared after.)"""
    owner = settings.DATABASES
    silent = {"HOST": "127.0.0.1", "PORT": silent_database_host, "OPTIONS": {"connect_timeout": 1}}
    settings.DATABASES = {**owner, "default": owner["default"] | silent}
    worker, outcome = backup_in_a_thread()
    settings.DATABASES = owner

    assert not worker.is_alive(), "the backup still waits on a host that never answers"
    assert outcome and "timeout" in outcome[0].lower()
    assert BackupRun.objects.get().status == "failed"


def test_an_old_file_retention_cannot_remove_leaves_the_new_backup_good(
    clock, tmp_path, monkeypatch
):
    """Retention ran inside the backup's finish: an old file it could not remove (owned by
    another account in a shared directory: EPERM) left the new, good dump's row `running` for
    ever, out of the drill's reach, and the command a traceback."""
    clock.freeze(datetime(2026, 12, 15, 2, 30, tzinfo=UTC))
    backups = tmp_path / "backups"
    backups.mkdir()
    stuck = backups / "opscore-000001-20250101T023000Z.dump"
    stuck.write_bytes(b"an old dump")
    old = a_backup_on(datetime(2025, 1, 1, tzinfo=UTC), stuck)
    for month in range(1, 13):  # a year of monthly backups since pushes the old one out
        a_backup_on(datetime(2026, month, 1, tzinfo=UTC), backups / f"m{month}.dump")
    unlink = Path.unlink

    def refused_for(path, *args, **kwargs):
        if path == stuck:
            raise PermissionError(1, "Operation not permitted", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", refused_for)

    made = take_backup(actor="t", directory=backups)

    made.refresh_from_db()
    assert made.status == "succeeded" and Path(made.path).exists()
    assert "Operation not permitted" in made.detail["not_pruned"][str(stuck)]
    assert stuck.exists() and BackupRun.objects.get(pk=old.pk).pruned_at is None


def a_backup_on(day: datetime, path: Path) -> BackupRun:
    return BackupRun.objects.create(
        kind="backup", status="succeeded", actor="t", path=str(path), started_at=day
    )


@pytest.mark.django_db
def test_a_dir_too_long_for_the_backups_row_is_refused_before_anything_is_written(tmp_path):
    """A backup's path is kept in a 500-character column: a deeper --dir got its dump written,
    then the row's finish refused by the database, the row left `running` for ever beside a file
    no retention or drill would find."""
    deep = tmp_path / ("d" * 240) / ("e" * 240)

    with pytest.raises(CommandError, match=r"backup refused: .* too long a path"):
        call_command("backup", "--dir", str(deep))

    assert not BackupRun.objects.exists()
    assert not deep.exists() or list(deep.iterdir()) == []


@pytest.mark.django_db
def test_a_backup_stopped_with_ctrl_c_is_failed_not_left_running(tmp_path, settings):
    """Ctrl-C during `opscore backup` (a dump taking longer than the operator would wait) left
    its row `running` for ever and half a dump on the disk."""
    a_pg_dump(  # the operator's Ctrl-C, as the command's process gets it mid-dump
        tmp_path / "bin", 'printf "PGDMP half a dump" > "$out"\nkill -INT $PPID\nexec sleep 30'
    )
    settings.OPS_PG_BIN_DIR = str(tmp_path / "bin")

    with pytest.raises(KeyboardInterrupt):
        take_backup(actor="t", directory=tmp_path / "backups")

    run = BackupRun.objects.get()
    assert run.status == "failed" and "interrupted" in run.error and run.finished_at
    assert list((tmp_path / "backups").iterdir()) == []


def an_interrupted_pg_restore(bin_dir: Path, settings) -> None:
    """A pg_restore in OPS_PG_BIN_DIR during which the operator presses Ctrl-C."""
    bin_dir.mkdir()
    fake = bin_dir / "pg_restore"
    fake.write_text("#!/bin/sh\nkill -INT $PPID\nexec sleep 30\n")
    fake.chmod(0o755)
    settings.OPS_PG_BIN_DIR = str(bin_dir)


@pytest.mark.django_db
def test_a_drill_stopped_with_ctrl_c_is_failed_and_drops_its_scratch(tmp_path, settings):
    take_backup(actor="t", directory=tmp_path / "backups")
    an_interrupted_pg_restore(tmp_path / "bin", settings)

    with pytest.raises(KeyboardInterrupt):
        restore_drill(actor="t")

    drill = BackupRun.objects.get(kind="drill")
    assert drill.status == "failed" and "interrupted" in drill.error
    with connect("postgres", autocommit=True) as admin:
        scratch = f"%_drill_{drill.id}"
        assert not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname LIKE %s", [scratch]
        ).fetchone()


@pytest.mark.django_db
def test_a_restore_stopped_with_ctrl_c_is_a_failed_row(tmp_path, settings):
    from operations.restore import restore_from

    dump = take_backup(actor="t", directory=tmp_path / "backups").path
    an_interrupted_pg_restore(tmp_path / "bin", settings)

    with pytest.raises(KeyboardInterrupt):
        restore_from(Path(dump), actor="t", confirmed=True)

    row = BackupRun.objects.get(kind="restore")
    assert row.status == "failed" and "interrupted" in row.error and row.path == dump


def test_runs_whose_process_was_killed_are_failed_and_cleared_by_the_next_backup(clock, tmp_path):
    """The nightly backup and the monthly drill run in the django-q cluster, whose task timeout
    (Q_TIMEOUT, 600 s) kills a longer dump, as kill -9 or a restart would: their rows read
    `running` for ever, the half dump stayed on the disk and the drill's scratch database on
    the server."""
    from datetime import timedelta

    from operations.restore import scratch_name
    from opscore.db import db_now

    clock.freeze(datetime(2026, 12, 2, 2, 30, tzinfo=UTC))
    backups = tmp_path / "backups"
    backups.mkdir()
    half = backups / "opscore-000001-20261201T023000Z.partial"
    half.write_bytes(b"PGDMP half a dump")
    yesterday = db_now() - timedelta(days=1)
    killed = BackupRun.objects.create(
        kind="backup", status="running", actor="t", path=str(half), started_at=yesterday
    )
    drill = BackupRun.objects.create(
        kind="drill", status="running", actor="t", started_at=yesterday
    )
    scratch = scratch_name(drill.id)
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')

    take_backup(actor="t", directory=backups)

    for run in (killed, drill):
        run.refresh_from_db()
        assert run.status == "failed" and "ended without a word" in run.error, run.error
    assert not half.exists()
    with connect("postgres", autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch])
        assert found.fetchone() is None


@pytest.mark.django_db
def test_a_backup_is_readable_by_its_owner_alone(tmp_path):
    """A dump holds every admin's session key and password hash: written under the usual umask
    (0644, in a 0755 directory), any account on the host could read it and sign in as an
    admin with a session from it."""
    import os
    import stat

    made = take_backup(actor="t", directory=tmp_path / "backups")

    assert stat.S_IMODE(os.stat(made.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "backups").st_mode) == 0o700


def test_a_drill_still_within_its_own_deadline_is_not_taken_for_abandoned(clock, tmp_path):
    """A drill may take a backup and then restore it (its deadline is two dumps' hours and
    ten minutes): one 2 h 5 min in was failed as abandoned by the next backup, which dropped
    the scratch database it was restoring into."""
    from datetime import timedelta

    from operations.backup_orders import DEADLINES
    from operations.restore import scratch_name
    from opscore.db import db_now

    clock.freeze(datetime(2026, 12, 2, 2, 30, tzinfo=UTC))
    started = db_now() - timedelta(hours=2, minutes=5)
    assert db_now() - started < DEADLINES["restore_drill"]
    drill = BackupRun.objects.create(kind="drill", status="running", actor="t", started_at=started)
    scratch = scratch_name(drill.id)
    with connect("postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        (tmp_path / "backups").mkdir()
        take_backup(actor="t", directory=tmp_path / "backups")

        drill.refresh_from_db()
        assert drill.status == "running"
        with connect("postgres", autocommit=True) as admin:
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [scratch])
            assert found.fetchone() is not None
    finally:
        with connect("postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def test_a_backup_waiting_on_a_locked_evidence_table_fails_instead_of_hanging(
    transactional_db, monkeypatch
):
    """An open `ALTER TABLE` (a migration, a psql session left open) holds an evidence table:
    the manifest's count waited for it with no deadline, pg_dump for an hour, and `opscore
    backup` hung with its run `running`."""
    monkeypatch.setattr("operations.backups.LOCK_WAIT_SECONDS", 1, raising=False)
    with connect() as holder:
        holder.execute("LOCK TABLE opscore_event IN ACCESS EXCLUSIVE MODE")
        worker, outcome = backup_in_a_thread()
        holder.rollback()

    assert not worker.is_alive(), "the backup still waits on the lock"
    assert outcome and "lock timeout" in outcome[0]
    assert BackupRun.objects.get().status == "failed"
