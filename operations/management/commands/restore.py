"""`manage.py restore --from FILE --yes`: replace the database with a backup (refused while
workers are live)."""

from operations.backups import BackupFailed
from operations.restore import record_restore, restore_from
from opscore.cli import OpsCommand, dump, fail, given_path

HAND_BACK_FAILED = 3  # restored, but the app role may not own what was: not a plain success


class Command(OpsCommand):
    help = "Restore a backup file over the configured database. Stop the system first."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", required=True)
        parser.add_argument("--yes", action="store_true", help="yes, replace everything")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        source = given_path("--from", opts["source"])
        try:
            result = restore_from(source, actor="operator:cli", confirmed=opts["yes"])
        except BackupFailed as failure:
            fail(f"restore refused: {failure}", as_json=opts["json"], code=2)
        run = record_restore(result, actor="operator:cli")
        body = result | {"id": run.id}
        self.stdout.write(
            dump(body)
            if opts["json"]
            else f"Restored {result['restored_from']} "
            f"into {result['database']} in {result['seconds']:.1f} s" + behind(result)
        )
        if run.error:
            self.stderr.write(f"restore {run.id}: {run.error}")
            raise SystemExit(HAND_BACK_FAILED)


def behind(result: dict) -> str:
    """An older backup is restored as it was: the schema catches up at the next migrate."""
    count = result.get("migrations_to_apply")
    return f"; {count} migration(s) behind this version: `make run` applies them" if count else ""
