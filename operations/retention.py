"""Backup retention: the newest file of each of the last 7 days, 4 ISO weeks and 3 months is
kept; every other file is removed and its BackupRun row says when. Only files this system
wrote (BackupRun rows of succeeded backups in that directory) are ever touched."""

from datetime import datetime
from pathlib import Path

from django.db.models.functions import Now

from opscore.models import BackupKind, BackupRun, BackupStatus

KEEP = {"daily": 7, "weekly": 4, "monthly": 3}


def period_keys(when: datetime) -> dict[str, tuple]:
    year, week, _ = when.isocalendar()
    return {
        "daily": (when.year, when.month, when.day),
        "weekly": (year, week),
        "monthly": (when.year, when.month),
    }


def to_keep(backups: list[BackupRun]) -> set[int]:
    """Grandfather-father-son over finished backups, newest first."""
    keep: set[int] = set()
    for rule, count in KEEP.items():
        seen: list[tuple] = []
        for run in backups:
            key = period_keys(run.started_at)[rule]
            if key not in seen:
                seen.append(key)
                if len(seen) <= count:
                    keep.add(run.id)
    return keep


def prune_backups(directory: Path) -> dict:
    """Counts and removes only files directly in `directory`: a path that merely begins with
    its name (`backups-archive` beside `backups`, a folder inside it) is another shelf. A file
    it cannot remove (another account's, in a shared directory) is named with why, and its row
    left unpruned for the next backup to try again: the backup that asked is good either way.
    Returns {"pruned": [path, …], "not_pruned": {path: why}}."""
    candidates = BackupRun.objects.filter(
        kind=BackupKind.BACKUP,
        status=BackupStatus.SUCCEEDED,
        pruned_at__isnull=True,
        path__startswith=f"{directory}/",
    ).order_by("-started_at", "-id")
    backups = [run for run in candidates if Path(run.path).parent == directory]
    keep = to_keep(backups)
    removed, not_removed = [], {}
    for run in backups:
        if run.id in keep:
            continue
        try:
            Path(run.path).unlink(missing_ok=True)
        except OSError as error:
            not_removed[run.path] = error.strerror or str(error)
            continue
        BackupRun.objects.filter(pk=run.pk).update(pruned_at=Now())
        removed.append(run.path)
    return {"pruned": removed, "not_pruned": not_removed}
