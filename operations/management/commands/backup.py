"""`manage.py backup [--dir D] [--json]`: one pg_dump -Fc with its manifest, then retention."""

from operations.backups import BackupDirUnusable, BackupFailed, backup_directory, take_backup
from opscore.cli import REFUSED, OpsCommand, dump, fail, given_path


class Command(OpsCommand):
    help = "Back the database up (pg_dump -Fc), keeping 7 daily / 4 weekly / 3 monthly files."

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="default: OPS_BACKUP_DIR (.data/backups)")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        opts["dir"] = given_path("--dir", opts["dir"])
        try:  # checked before anything is said, so bad input is answered in one line
            backup_directory(opts["dir"])
        except BackupDirUnusable as unusable:
            fail(f"backup refused: {unusable}", as_json=opts["json"], code=REFUSED)
        if not opts["json"]:
            self.stderr.write("Dumping the database (pg_dump -Fc) and its manifest…")
        try:
            run = take_backup(actor="operator:cli", directory=opts["dir"])
        except BackupFailed as failure:
            fail(f"backup failed: {failure}", as_json=opts["json"])
        body = {
            "id": run.id,
            "path": run.path,
            "size_bytes": run.size_bytes,
            "sha256": run.sha256,
            "seconds": run.duration_ms / 1000,
            "evidence_rows": {t: m["rows"] for t, m in run.manifest.items()},
            "pruned": run.detail.get("pruned", []),
            "not_pruned": run.detail.get("not_pruned", {}),
        }
        if opts["json"]:
            self.stdout.write(dump(body))
            return
        self.stdout.write(
            f"Backup {run.id}: {run.path} ({run.size_bytes:,} bytes, {body['seconds']:.1f} s); "
            f"{len(body['pruned'])} old file(s) pruned"
        )
        for path, why in body["not_pruned"].items():
            self.stdout.write(f"Not pruned (kept, tried again next backup): {path}: {why}")
