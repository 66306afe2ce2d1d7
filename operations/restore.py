"""The restore drill (the latest backup into a scratch database, compared with its manifest,
recovery time measured, scratch dropped) and a real restore (refused while workers run)."""

import subprocess
import time
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.models.functions import Now

from missions.models import Worker
from operations.backups import (
    INTERRUPTED,
    PATH_LENGTH,
    BackupFailed,
    connect,
    elapsed,
    finish_abandoned_runs,
    finish_failed,
    libpq_env,
    manifest,
    one_line,
    pg_tool,
    run_tool,
    scratch_name,
    sha256_of,
)
from operations.unrecorded import register_unrecorded_backups
from opscore import db_roles
from opscore.models import BackupKind, BackupRun, BackupStatus


def drillable_backup() -> tuple[BackupRun, Path, dict]:
    """The newest backup whose file is there as it was written: one removed by hand, or left by
    a restore to a moment before it, failed every drill while an older good file sat beside it.
    Returns it, its file and why each newer one was passed over (kept in the drill's row)."""
    backups = BackupRun.objects.filter(
        kind=BackupKind.BACKUP, status=BackupStatus.SUCCEEDED, pruned_at__isnull=True
    ).order_by("-started_at", "-id")
    passed_over = {}
    for backup in backups.iterator():
        try:
            return backup, checked_file(backup), passed_over
        except (BackupFailed, OSError) as why:
            passed_over[str(backup.id)] = one_line(why)
    if not passed_over:
        raise BackupFailed("no backup to drill: run `.venv/bin/opscore backup` first")
    raise BackupFailed(f"no backup file to drill: {'; '.join(passed_over.values())}")


def checked_file(backup: BackupRun) -> Path:
    path = Path(backup.path)
    if not path.exists():
        raise BackupFailed(f"backup {backup.id}: {path} is gone")
    if sha256_of(path) != backup.sha256:
        raise BackupFailed(f"backup {backup.id}: {path} does not match its checksum")
    return path


def differences(expected: dict, found: dict) -> dict:
    return {
        table: {"expected": want, "found": found.get(table)}
        for table, want in expected.items()
        if found.get(table) != want
    }


def restore_drill(*, actor: str) -> BackupRun:
    """A drill with nothing to drill is a failed run too: the order that asked sees why."""
    finish_abandoned_runs()
    run = BackupRun.objects.create(kind=BackupKind.DRILL, status=BackupStatus.RUNNING, actor=actor)
    scratch = scratch_name(run.id)
    started = time.monotonic()
    try:
        backup, path, passed_over = drillable_backup()
        run.source = backup
        recovery, found = restore_into_scratch(path, scratch, started)
    except KeyboardInterrupt:  # the operator's Ctrl-C: the scratch is dropped on the way out
        finish_failed(run, INTERRUPTED, started)
        raise
    except Exception as failure:  # whatever stopped it, the run is finished `failed`, not left
        reason = drill_failure(failure)
        finish_failed(run, reason, started)
        raise BackupFailed(reason) from failure
    mismatched = differences(backup.manifest, found)
    detail = {"recovery_seconds": round(recovery / 1000, 2), "tables": len(found)}
    detail |= {"mismatched": mismatched, "scratch_database": scratch, "passed_over": passed_over}
    detail["compared_with_manifest"] = bool(backup.manifest)  # none: registered after a restore
    status = BackupStatus.FAILED if mismatched else BackupStatus.SUCCEEDED
    error = f"{len(mismatched)} table(s) differ from the manifest" if mismatched else ""
    run.finish(status, detail=detail, error=error, duration_ms=elapsed(started), path=str(path))
    return run


def restore_into_scratch(path: Path, scratch: str, started: float) -> tuple[int, dict]:
    """Create the scratch database, restore into it and read its manifest; drop it whatever
    happened. Returns the recovery time (ms) and the manifest."""
    with connect("postgres", admin=True, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        run_tool(restore_args(path, scratch), libpq_env(scratch, admin=True))
        recovery = elapsed(started)
        with connect(scratch, admin=True) as restored:
            return recovery, manifest(restored)
    finally:
        with connect("postgres", admin=True, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def drill_failure(failure: Exception) -> str:
    """One line an operator can act on; a role that may not create databases is named as such,
    since that is how a drill usually fails on a managed or locked-down server."""
    if isinstance(failure, psycopg.errors.InsufficientPrivilege) and "create database" in str(
        failure
    ):
        role = libpq_env(admin=True)["PGUSER"]
        return (
            f"the database role {role!r} cannot create the drill's scratch database: grant it"
            f" CREATEDB (ALTER ROLE {role} CREATEDB) ({one_line(failure)})"
        )
    if isinstance(failure, BackupFailed):
        return one_line(failure)
    return f"{type(failure).__name__}: {one_line(failure)}"


def restore_args(path: Path, database: str, *, clean: bool = False) -> list[str]:
    args = [pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error"]
    if clean:
        args += ["--clean", "--if-exists", "--single-transaction"]
    return [*args, "-d", database, str(path)]


def restore_from(path: Path, *, actor: str, confirmed: bool, database: str | None = None):
    """Replace the database's contents with a backup. The BackupRun rows in the file replace
    today's, so the restore's own row is written after, into the restored database. A refusal
    or a failure (pg_restore's one transaction rolled back) leaves the database as it was, and
    is a failed row there, its reason on one line."""
    path, started = Path(path).absolute(), time.monotonic()  # the row is read from elsewhere
    target = database or libpq_env()["PGDATABASE"]
    try:
        refuse_restore(path, confirmed)
        behind = refuse_a_newer_schema(path)
        refuse_other_sessions(target)
        refuse_tables_it_would_leave(path, target)
        run_tool(restore_args(path, target, clean=True), libpq_env(target, admin=True))
    except (BackupFailed, OSError, subprocess.TimeoutExpired, psycopg.Error) as failure:
        restore_failed(path, one_line(failure), actor, started)
        raise BackupFailed(one_line(failure)) from None
    except KeyboardInterrupt:  # pg_restore's one transaction is rolled back with it
        restore_failed(path, f"{INTERRUPTED}: the database is as it was", actor, started)
        raise
    handed = hand_back(target)
    seconds = elapsed(started) / 1000
    return {"restored_from": str(path), "database": target, "seconds": seconds} | behind | handed


def restore_failed(path: Path, reason: str, actor: str, started: float) -> None:
    if not set_up():  # an empty database has no table for the row: the one line says it all
        return
    run = BackupRun.objects.create(
        kind=BackupKind.RESTORE, status=BackupStatus.RUNNING, actor=actor, **path_kept(path)
    )
    run.finish(BackupStatus.FAILED, error=reason, duration_ms=elapsed(started))


def refuse_restore(path: Path, confirmed: bool) -> None:
    if not confirmed:
        raise BackupFailed("restoring replaces everything in the database: pass --yes")
    if not path.exists():
        raise BackupFailed(f"{path} does not exist")
    if not path.is_file():
        raise BackupFailed(f"{path} is not a file: name a backup (.dump)")
    if not set_up():  # a new host's empty database: nothing runs on it, nothing was recorded
        return
    live = Worker.objects.live().count()
    if live:
        raise BackupFailed(f"{live} worker(s) are live: stop the system (make run) first")
    refuse_a_changed_file(path)


def set_up() -> bool:
    """Whether the database has Opscore's tables: a restore is how a new host's empty one
    gets them (`make run` first would bring up a whole new company only to replace it)."""
    tables = connection.introspection.table_names()
    return Worker._meta.db_table in tables and BackupRun._meta.db_table in tables


def refuse_other_sessions(target: str) -> None:
    """Another session on the database (a psql left in a transaction, a request being served)
    holds tables pg_restore must drop: its DROP waited behind it the tool's hour in silence,
    then failed. Refused at once instead, naming who is connected; this process's own session
    (it asked for live workers) is not another."""
    ours = connection.connection.info.backend_pid if connection.connection else None
    with connect(target, admin=True, autocommit=True) as admin:
        others = admin.execute(
            "SELECT pid, application_name, state FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchall()
    named = [f"{app or 'a client'} ({state})" for pid, app, state in others if pid != ours]
    if named:
        raise BackupFailed(
            f"{len(named)} other session(s) are connected to {target}: {', '.join(named[:3])};"
            " stop them (the web server, a psql) first"
        )


def refuse_tables_it_would_leave(path: Path, target: str) -> None:
    """`--clean` drops only what the file holds: a table a later migration made would stay,
    its rows from after the backup, while the file's django_migrations says it was never made,
    and the next migrate fails on it. Refused, naming them, before anything is replaced."""
    listing = run_tool([pg_tool("pg_restore"), "--list", str(path)], libpq_env())
    theirs = {
        words[5]
        for words in map(str.split, listing.splitlines())
        if len(words) > 5 and words[3] == "TABLE" and words[4] == "public"
    }
    with connect(target, admin=True) as live:
        query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        left = [name for (name,) in live.execute(query) if name not in theirs]
    if left:
        raise BackupFailed(
            f"{target} has {len(left)} table(s) the backup does not have ({', '.join(left[:5])}),"
            " which a restore would leave beside it: a newer Opscore's. Restore into an empty"
            " database (dropdb, createdb), or with the version that took the backup"
        )


def refuse_a_changed_file(path: Path) -> None:
    """A file this install's backup wrote is restored only as that backup recorded it, as the
    drill checks it: one that changed since (a bad disk, a copy cut short, a hand) would replace
    everything with whatever it holds now. A file from elsewhere has no record to check."""
    recorded = next(recorded_as(path), None)
    if recorded is not None and sha256_of(path) != recorded.sha256:
        raise BackupFailed(
            f"{path} does not match the checksum backup {recorded.id} recorded: it changed"
            " since it was written; restore another backup"
        )


def recorded_as(path: Path):
    """The succeeded backups that wrote this very file, newest first, however it is named now:
    through a symlinked folder or `..`, the path typed is not the one the row keeps."""
    rows = (
        BackupRun.objects.filter(kind=BackupKind.BACKUP, status=BackupStatus.SUCCEEDED)
        .filter(path__endswith=f"/{path.name}")
        .exclude(sha256="")
        .order_by("-id")
    )
    return (row for row in rows if Path(row.path).exists() and path.samefile(row.path))


def refuse_a_newer_schema(path: Path) -> dict:
    """A backup carries its schema's migrations. One of this code's apps that this code has no
    file for (nor squashed into one it has) means a newer Opscore made it: restored here, this
    version would run on tables it does not know, and no migration of its own could undo that.
    An older backup restores; `make run` migrates it, and the answer says how many that is."""
    taken = backup_migrations(path)
    if not any(migration.startswith("opscore.") for migration in taken):
        # Any Django project's dump has django_migrations (auth, sessions): restored, it would
        # replace this install's users and sessions and leave every Opscore table beside them
        raise BackupFailed(f"{path} holds no opscore migration rows: not an Opscore backup")
    loader = MigrationLoader(None)
    ours = {app for app, _ in loader.disk_migrations}
    known = {f"{app}.{name}" for app, name in loader.disk_migrations}
    known |= {f"{a}.{n}" for m in loader.disk_migrations.values() for a, n in m.replaces}
    unknown = sorted(m for m in taken - known if m.split(".", 1)[0] in ours)
    if unknown:
        raise BackupFailed(
            f"{path} was taken by a newer Opscore: {len(unknown)} migration(s) this version"
            f" does not have ({', '.join(unknown[:3])}); restore it with the version that made it"
        )
    plain = {f"{a}.{n}" for (a, n), m in loader.disk_migrations.items() if not m.replaces}
    return {"migrations_to_apply": len(plain - taken)}


def backup_migrations(path: Path) -> set[str]:
    """`app.name` of every django_migrations row in the file, read from its data alone
    (pg_restore prints that table's COPY block; nothing is restored)."""
    args = [pg_tool("pg_restore"), "--data-only", "--table=django_migrations", "-f", "-"]
    script = run_tool([*args, str(path)], libpq_env())
    taken, columns = set(), None
    for line in script.splitlines():
        if columns is None and line.startswith("COPY ") and "django_migrations (" in line:
            columns = line[line.index("(") + 1 : line.index(")")].split(", ")
        elif columns is not None and line == "\\.":
            break
        elif columns is not None:
            row = dict(zip(columns, line.split("\t"), strict=False))
            taken.add(f"{row['app']}.{row['name']}")
    return taken


def hand_back_to_app_role(database: str) -> None:
    """A restore runs as the admin role, so what it created is the admin's: when the app works
    as a role of its own, that role takes its objects back (opscore.db_roles)."""
    app_role = settings.DATABASES["default"]["USER"]
    if app_role == settings.OPS_DATABASE_ADMIN["USER"]:
        return
    with connect(database, admin=True, autocommit=True) as admin:
        db_roles.hand_over_database(admin, app_role)


def hand_back(database: str) -> dict:
    """The data is restored whatever the hand-back does: its failure is not the restore's, so
    it is kept in the answer (and the restore's row) rather than raised past both."""
    try:
        hand_back_to_app_role(database)
    except (psycopg.Error, OSError) as failure:
        return {"hand_back_failed": one_line(failure)}
    return {}


def record_restore(result: dict, *, actor: str) -> BackupRun:
    """The restore's row, in the restored database; then the backup files it forgot."""
    failed_hand_back = result.get("hand_back_failed")
    run = BackupRun.objects.create(
        kind=BackupKind.RESTORE,
        status=BackupStatus.SUCCEEDED,
        actor=actor,
        path=path_kept(result["restored_from"]).get("path", ""),
        detail=result,
        error=(
            "restored, but the hand-back to the app role failed: what the restore created is"
            f" still the admin role's ({failed_hand_back})"
            if failed_hand_back
            else ""
        ),
        finished_at=Now(),
    )
    registered = register_unrecorded_backups(Path(result["restored_from"]), run)
    BackupRun.objects.filter(pk=run.pk).update(
        detail=run.detail | {"registered_backups": registered}
    )
    run.refresh_from_db(fields=["detail"])
    return run


def path_kept(path) -> dict:
    """The row's fields for `path`: in its column when it fits, else whole in `detail` (a path
    may run to 4096 characters): cut, it would name another file; refused, the row was lost."""
    if len(str(path)) <= PATH_LENGTH:
        return {"path": str(path)}
    return {"path": "", "detail": {"path": str(path)}}
