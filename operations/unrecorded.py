"""Backup files a restore forgot. A restore brings the BackupRun rows back to its backup's
moment, so the files taken since (and the restored one itself, whose row is written after its
dump's snapshot) have none; retention touches only files with a row, so they piled up on disk
unseen. Each is registered again from the file itself, and the registration is an event."""

import re
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db.models.functions import Now

from operations.backups import STAMP, sha256_of
from opscore.actions import record_event
from opscore.models import BackupKind, BackupRun, BackupStatus

# The name take_backup gives a file: its id, then the UTC moment it was taken.
BACKUP_NAME = re.compile(r"opscore-\d+-(?P<stamp>\d{8}T\d{6}Z)\.dump")


def register_unrecorded_backups(restored_from: Path, restore: BackupRun) -> list[str]:
    """In the restored file's directory and the configured one: every backup file with no row
    gets a succeeded one, started when its name says (retention keeps by that). Its manifest
    is unknown: the row says so. Returns the paths registered."""
    directories = {Path(restored_from).parent.resolve(), Path(settings.OPS_BACKUP_DIR).resolve()}
    rows = BackupRun.objects.filter(kind=BackupKind.BACKUP).values_list("path", flat=True)
    known = {Path(path).resolve() for path in rows}
    registered = []
    for directory in sorted(directories):
        for path in sorted(directory.glob("opscore-*.dump")) if directory.is_dir() else ():
            match = BACKUP_NAME.fullmatch(path.name)
            if match and path.is_file() and path.resolve() not in known:
                register(path, match["stamp"], restore)
                registered.append(str(path))
    if registered:
        record_event(
            "backup.registered",
            f"Restore {restore.id}: {len(registered)} backup file(s) with no row registered",
            summary="taken after the restored backup's moment, or the restored one itself",
            tags=["backup"],
            payload={"restore": restore.id, "paths": registered},
            actor=restore.actor,
        )
    return registered


def register(path: Path, stamp: str, restore: BackupRun) -> BackupRun:
    taken = datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)
    return BackupRun.objects.create(
        kind=BackupKind.BACKUP,
        status=BackupStatus.SUCCEEDED,
        actor=restore.actor,
        path=str(path),
        size_bytes=path.stat().st_size,
        sha256=sha256_of(path),
        started_at=taken,
        finished_at=Now(),
        detail={
            "registered_by_restore": restore.id,
            "manifest": "unknown: registered from the file after a restore forgot its row",
        },
    )
