from django.core.management.base import BaseCommand

from opscore.heartbeat import run_heartbeat
from opscore.management.commands._json import dump


class Command(BaseCommand):
    help = "Run the heartbeat's duties once and record an ActionRun."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        run = run_heartbeat("cli")
        if opts["json"]:
            self.stdout.write(dump(run.as_json()))
            return
        self.stdout.write(f"Heartbeat #{run.id}: {run.status} {run.reason}".rstrip())
        for item in run.duties:
            detail = item.get("counts") or item.get("error") or item.get("detail") or ""
            self.stdout.write(f"  {item['name']:<28} {item['status']:<14} {detail}")
