"""`manage.py deliver`: the outbox's own loop (e-mail, webhook and the other channels), run by
the supervisor beside the step workers; SIGINT or SIGTERM ends it after the send in hand."""

import threading

from missions.outbox import Deliverer
from opscore import stopping
from opscore.cli import IDLE_POLL, OpsCommand, dump


class Command(OpsCommand):
    help = "Deliver outbox messages until interrupted."

    def add_arguments(self, parser):
        parser.add_argument("--idle-poll", type=IDLE_POLL, default=5.0)
        parser.add_argument("--json", action="store_true", help="say the count as JSON")

    def handle(self, *args, **opts):
        stop = threading.Event()
        stopping.install(lambda *_: stop.set())
        delivered = Deliverer(stop, opts["idle_poll"]).run()
        if opts["json"]:
            self.stdout.write(dump({"delivered": delivered}))
        else:
            self.stdout.write(f"deliver: stopped after delivering {delivered} message(s)")
