"""The standing orders that keep the backups honest: a daily backup and a monthly restore drill.
A failure is the run's `failed` with the reason; a drill that never ran is `missed`."""

from datetime import timedelta

from operations.backups import TIMEOUT_SECONDS, BackupFailed, take_backup
from operations.restore import restore_drill
from opscore.models import BackupKind, BackupRun, RunStatus
from opscore.standing_orders import RunResult


def backup(order, run):
    try:
        made = take_backup(actor=f"order:{order.name}")
    except BackupFailed as failure:
        return RunResult(RunStatus.FAILED, f"backup failed: {failure}", {})
    evidence = {"backup": made.id, "bytes": made.size_bytes} | made.detail
    said = f"backup {made.id}: {made.size_bytes:,} bytes"
    if made.detail["not_pruned"]:
        said += f"; {len(made.detail['not_pruned'])} old file(s) could not be pruned"
    return RunResult(RunStatus.COMPLETED, said, evidence)


def drill(order, run):
    """With no backup yet (a fresh install), it takes one first: the drill is there to prove
    the restore path, and an empty shelf proves nothing."""
    actor = f"order:{order.name}"
    try:
        if not BackupRun.objects.filter(kind=BackupKind.BACKUP, status="succeeded").exists():
            take_backup(actor=actor)
        done = restore_drill(actor=actor)
    except BackupFailed as failure:
        return RunResult(RunStatus.FAILED, f"restore drill could not run: {failure}", {})
    evidence = {"drill": done.id, "backup": done.source_id} | done.detail
    if done.status != "succeeded":
        return RunResult(RunStatus.FAILED, done.error, evidence)
    seconds = done.detail["recovery_seconds"]
    return RunResult(
        RunStatus.COMPLETED, f"backup {done.source_id} restores in {seconds} s", evidence
    )


HANDLERS = {"backup": backup, "restore_drill": drill}
# pg_dump's hour (and a drill's pg_restore's, after the backup it may take first), and room for
# the manifest, the checksum and pruning: the cluster's 10 minutes killed a long dump unrecorded.
DUMP = timedelta(seconds=TIMEOUT_SECONDS)
DEADLINES = {
    "backup": DUMP + timedelta(minutes=10),
    "restore_drill": 2 * DUMP + timedelta(minutes=10),
}
