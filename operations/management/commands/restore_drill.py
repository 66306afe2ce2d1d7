"""`manage.py restore_drill [--json]`: prove the newest backup still on disk restores, and how
fast."""

from operations.backups import BackupFailed
from operations.restore import restore_drill
from opscore.cli import OpsCommand, dump, fail


class Command(OpsCommand):
    help = "Restore the latest backup into a scratch database, compare, time it, drop it."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        if not opts["json"]:
            self.stderr.write("Restoring the latest backup into a scratch database…")
        try:
            run = restore_drill(actor="operator:cli")
        except BackupFailed as failure:
            fail(f"restore drill failed: {failure}", as_json=opts["json"])
        body = {"id": run.id, "status": run.status, "backup": run.source_id, **run.detail}
        if opts["json"]:
            self.stdout.write(dump(body))
        else:
            verdict = "matches its manifest" if run.status == "succeeded" else run.error
            if not run.detail["compared_with_manifest"]:
                verdict = "no manifest recorded to compare with (registered after a restore)"
            self.stdout.write(
                f"Restore drill {run.id}: backup {run.source_id} restored in "
                f"{run.detail['recovery_seconds']:.2f} s (measured recovery time); "
                f"{run.detail['tables']} evidence tables checked, {verdict}"
            )
        for backup, why in run.detail.get("passed_over", {}).items():
            self.stderr.write(f"passed over backup {backup}: {why}")
        if run.status != "succeeded":
            raise SystemExit(1)
