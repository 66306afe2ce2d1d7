from django.core.management.base import BaseCommand

from missions.worker import WorkerSession
from opscore.management.commands._json import dump


class Command(BaseCommand):
    help = "Run a worker session in the foreground: claim, run and record steps."

    def add_arguments(self, parser):
        parser.add_argument("--seconds", type=float, default=60.0)
        parser.add_argument("--worker-id")
        parser.add_argument("--idle-poll", type=float, default=5.0)

    def handle(self, *args, **opts):
        session = WorkerSession(opts["worker_id"], opts["seconds"], opts["idle_poll"])
        report = session.run()
        self.stdout.write(dump(report.__dict__))
