"""Backups you can trust: `pg_dump -Fc` at one snapshot with a manifest of the evidence tables
taken in that same snapshot, retention 7 daily / 4 weekly / 3 monthly, a restore drill that
proves the latest file restores to exactly that manifest, and a real restore.

Every run is a BackupRun row. The database password reaches the client binaries through the
environment (PGPASSWORD), never their argv, so it is not in `ps` output or in any row.
"""

import hashlib
import os
import re
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection
from django.db.models.functions import Now

from operations.retention import prune_backups
from opscore.db import DISCONNECTS
from opscore.models import BackupKind, BackupRun, BackupStatus
from opscore.redaction import REDACTED, redact_text

# Append-only evidence: what a restore must bring back row for row.
EVIDENCE_TABLES = [
    "opscore_event",
    "opscore_policyversion",
    "opscore_standingorderrun",
    "opscore_override",
    "opscore_llmcall",
    "opscore_replayrun",
    "missions_stepattempt",
    "memory_memoryreview",
    "memory_memoryrevision",
]
TIMEOUT_SECONDS = 3600
# How long the manifest and pg_dump wait for a table another session holds (an open ALTER
# TABLE, a migration): past it the backup fails saying so, where it waited with no deadline.
LOCK_WAIT_SECONDS = 600
# Past any live run's deadline: the longest, a drill that dumps and then restores, has two
# TIMEOUT_SECONDS and ten minutes (operations.backup_orders.DEADLINES).
ABANDONED_AFTER = timedelta(seconds=3 * TIMEOUT_SECONDS)
STAMP = "%Y%m%dT%H%M%SZ"  # in a backup's file name
RECONNECT_PAUSES = (1, 2, 4, 8, 15)  # how long a restart is waited out (30 s) to keep a failure


class BackupFailed(RuntimeError):
    """A backup, drill or restore that could not finish; the message says why."""


def pg_tool(name: str) -> str:
    if settings.OPS_PG_BIN_DIR:
        return str(Path(settings.OPS_PG_BIN_DIR) / name)
    if settings.OPS_EMBEDDED_DB:
        from opscore.embedded_db import client_bin_dir

        return str(client_bin_dir() / name)
    found = shutil.which(name)
    if found is None:
        raise BackupFailed(
            f"{name} is not on PATH; install the PostgreSQL client or set OPS_PG_BIN_DIR"
        )
    return found


def libpq_env(database: str | None = None, *, admin: bool = False) -> dict:
    """Connection variables for the libpq tools: the app's role, or with `admin` the role that
    may create databases and extensions (settings.OPS_DATABASE_ADMIN) — restores need it."""
    db = settings.OPS_DATABASE_ADMIN if admin else settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= {
        "PGHOST": db["HOST"] or "localhost",
        "PGPORT": str(db["PORT"] or 5432),
        "PGUSER": db["USER"] or "postgres",
        "PGDATABASE": database or settings.DATABASES["default"]["NAME"],
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    # A host that stopped answering fails the connection, as the app's own do, not the backup
    env["PGCONNECT_TIMEOUT"] = str(db.get("OPTIONS", {}).get("connect_timeout", 5))
    return env


def connect(database: str | None = None, *, admin: bool = False, **kwargs) -> psycopg.Connection:
    env = libpq_env(database, admin=admin)
    return psycopg.connect(
        host=env["PGHOST"],
        port=env["PGPORT"],
        user=env["PGUSER"],
        password=env.get("PGPASSWORD"),
        dbname=env["PGDATABASE"],
        connect_timeout=int(env["PGCONNECT_TIMEOUT"]),
        **kwargs,
    )


def run_tool(args: list[str], env: dict) -> str:
    """What the tool wrote to stdout; a failure is BackupFailed with what it said."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    if done.returncode != 0:  # one line: what the tool said spans a TOC entry, DETAIL, HINT…
        said = tool_said(done.stderr)
        raise BackupFailed(f"{Path(args[0]).name} exited {done.returncode}: {said}")
    return done.stdout


TOOL_SAID_CHARS = 800  # of what a failed tool said, kept in the row and printed
KEY_SAID = r"(Key \([^)]*\)=\()"
# Where Postgres quotes the data it choked on: a value after a colon (`…integer: "x"`), a key's
# values (up to what it says of them, else to the line's end), a failing row, a COPY line, and
# the SQL of the entry that failed (to the next line the tool starts with its own name).
ROW_DATA = tuple(
    (re.compile(pattern, re.M | re.S), template.replace("~", REDACTED))
    for pattern, template in (
        (r'(: )"[^\n]*', r"\1~"),
        (
            KEY_SAID + r"[^\n]*(\) (already exists|is not present|is still referenced)[^\n]*)",
            r"\1~\2",
        ),
        (KEY_SAID + r"(?!\[)[^\n]*", r"\1~"),
        (r"(Failing row contains )[^\n]*", r"\1~"),
        (r"(COPY [^,\n]+, line \d+)[^\n]*", r"\1: ~"),
        (r"(Command was: ).*?(?=^pg_\w+: |\Z)", r"\1~ "),
    )
)


def tool_said(stderr: str) -> str:
    """What pg_dump or pg_restore said, for the run's row and the operator: on a corrupt or
    hostile file Postgres quotes the row it failed on, which may be a table's secret, so the
    data is redacted (and known secrets, as in events) and the line bounded; what failed and
    where stays."""
    for pattern, template in ROW_DATA:
        stderr = pattern.sub(template, stderr)
    said = one_line(redact_text(stderr))
    return said if len(said) <= TOOL_SAID_CHARS else said[:TOOL_SAID_CHARS] + "…"


def one_line(failure: Exception | str) -> str:
    return " ".join(str(failure).split())[:2000]


def manifest(conn: psycopg.Connection) -> dict:
    """Rows and a checksum per evidence table, as this connection's snapshot sees them."""
    tables = {}
    for table in EVIDENCE_TABLES:
        rows, checksum = conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' ORDER BY t.id)), '')"
            f" FROM {table} t"
        ).fetchone()
        tables[table] = {"rows": rows, "checksum": checksum}
    return tables


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class BackupDirUnusable(BackupFailed):
    """The directory named cannot be made or written: the caller's input, not a failed dump."""


# A backup's row keeps its path whole, in a column this wide: its directory leaves room for the
# file's name (`/opscore-<id>-<UTC stamp>.dump`, ids of up to ten digits).
PATH_LENGTH = BackupRun._meta.get_field("path").max_length
DIR_LENGTH = PATH_LENGTH - len("/opscore-0000000000-20261206T023000Z.dump")


def backup_directory(directory: Path | None = None) -> Path:
    # Absolute: the row's path is read by the drill and restores, from another working directory.
    directory = Path(directory or settings.OPS_BACKUP_DIR).absolute()
    if len(str(directory)) > DIR_LENGTH:
        raise BackupDirUnusable(
            f"{directory} is too long a path for a backup's row ({len(str(directory))}"
            f" characters; at most {DIR_LENGTH})"
        )
    try:  # a new one is the owner's alone: a dump holds sessions and password hashes
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise BackupDirUnusable(f"{directory} cannot hold backups: {error.strerror}") from None
    return directory


def take_backup(*, actor: str, directory: Path | None = None) -> BackupRun:
    """Dump at one exported snapshot, so the manifest describes exactly what the file holds.
    The run's row is written after that snapshot: in the file it would read `running` for ever
    once restored, a backup with neither an end nor a reason."""
    directory = backup_directory(directory)
    finish_abandoned_runs()
    started, run, partial = time.monotonic(), None, None
    try:
        with connect(autocommit=True) as snapshot:
            snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            snapshot.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'")
            exported = snapshot.execute("SELECT pg_export_snapshot()").fetchone()[0]
            run = start_backup(actor)
            path = directory / f"opscore-{run.id:06d}-{time.strftime(STAMP, time.gmtime())}.dump"
            partial = path.with_suffix(".partial")
            BackupRun.objects.filter(pk=run.pk).update(path=str(partial))  # for its cleaner
            partial.touch(mode=0o600)  # pg_dump writes into it: the owner's alone, from byte one
            tables = manifest(snapshot)
            run_tool(dump_args(exported, partial), libpq_env())
            snapshot.execute("COMMIT")
        # Measured before it takes its name: a file that cannot be read back is no backup,
        # and its failure is handled here like any other (no row left `running`).
        size, digest = partial.stat().st_size, sha256_of(partial)
        partial.rename(path)
    except (BackupFailed, psycopg.Error, OSError, subprocess.TimeoutExpired) as failure:
        give_up(run or start_backup(actor), partial, one_line(failure), started)
        raise BackupFailed(one_line(failure)) from None
    except KeyboardInterrupt:  # the operator's Ctrl-C: stopped, and the row says so
        give_up(run or start_backup(actor), partial, INTERRUPTED, started)
        raise
    run.finish(
        BackupStatus.SUCCEEDED,
        path=str(path),
        size_bytes=size,
        sha256=digest,
        duration_ms=elapsed(started),
        manifest=tables,
        detail=prune_backups(directory),
    )
    return run


def dump_args(snapshot: str, partial: Path) -> list[str]:
    dump = [pg_tool("pg_dump"), "-Fc", f"--snapshot={snapshot}"]
    return [*dump, f"--lock-wait-timeout={LOCK_WAIT_SECONDS}s", "-f", str(partial)]


INTERRUPTED = "interrupted (Ctrl-C) before it finished"


def give_up(run: BackupRun, partial: Path | None, reason: str, started: float) -> None:
    """Half a dump restores nothing, and fills a full disk: it goes, and the run is failed."""
    if partial is not None:
        partial.unlink(missing_ok=True)
    finish_failed(run, reason, started)


def start_backup(actor: str) -> BackupRun:
    return BackupRun.objects.create(
        kind=BackupKind.BACKUP, status=BackupStatus.RUNNING, actor=actor
    )


def finish_failed(run: BackupRun, reason: str, started: float) -> None:
    """Finish `run` failed with `reason` once the database answers: what failed it is often
    the database going away (a restart ends the dump's sessions and this one's), and a run
    left `running` would say nothing of why."""
    for pause in (*RECONNECT_PAUSES, None):
        try:
            run.finish(BackupStatus.FAILED, error=reason, duration_ms=elapsed(started))
            return
        except DISCONNECTS:
            if pause is None:
                raise
            connection.close()  # the next try opens a new session
            time.sleep(pause)


def scratch_name(run_id: int) -> str:
    """Named after this install's database: run ids count per database, and database names
    are the server's, so two databases on one server (two installs, parallel test runs)
    drilling at once each get their own scratch ('opscore' gives opscore_drill_N, as before)."""
    return f"{connection.settings_dict['NAME'][:40]}_drill_{run_id}"


def finish_abandoned_runs() -> list[int]:
    """Backups and drills still `running` long past any live one's deadline: their process
    ended without a word (the cluster's task timeout on a long dump, kill -9, out of memory, a
    restart). Each is finished failed saying so, its half dump removed and its drill's scratch
    database dropped, so neither fills a disk; every backup and drill clears them first."""
    stuck = BackupRun.objects.filter(
        status=BackupStatus.RUNNING, started_at__lt=Now() - ABANDONED_AFTER
    )
    reason = (
        f"still running {ABANDONED_AFTER.total_seconds() / 3600:.0f} h after it started:"
        " its process ended without a word"
        " (the cluster's task timeout, a kill, out of memory or a restart)"
    )
    finished = []
    for run in stuck:
        if run.path.endswith(".partial"):
            Path(run.path).unlink(missing_ok=True)
        if run.kind == BackupKind.DRILL:
            drop_scratch(scratch_name(run.id))
        run.finish(BackupStatus.FAILED, error=reason)
        finished.append(run.id)
    return finished


def drop_scratch(name: str) -> None:
    try:
        with connect("postgres", admin=True, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:  # a role that may not: the run is finished failed all the same
        pass


def elapsed(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
