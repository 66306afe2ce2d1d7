from missions.slots import run_slot
from missions.worker import WorkerSession
from opscore.cli import IDLE_POLL, SESSION_SECONDS, OpsCommand, bounded, dump


class Command(OpsCommand):
    help = "Run a worker in the foreground: claim, run and record steps."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seconds", type=SESSION_SECONDS, default=60.0, help="one session this long"
        )
        parser.add_argument("--worker-id")
        parser.add_argument("--idle-poll", type=IDLE_POLL, default=5.0)
        parser.add_argument("--json", action="store_true", help="with --slot: say it as JSON")
        parser.add_argument(
            "--until-idle",
            action="store_true",
            help="end the session as soon as no step is claimable (drain the queue, then exit)",
        )
        parser.add_argument(
            "--slot",
            type=bounded(0, 2**31 - 1),
            help="hold this worker slot, sessions back to back until SIGINT",
        )

    def handle(self, *args, **opts):
        if opts["slot"] is not None:
            steps = run_slot(opts["slot"], opts["idle_poll"])
            said = f"worker slot {opts['slot']}: stopped after {steps} step(s)"
            report = {"slot": opts["slot"], "steps": steps}
            self.stdout.write(dump(report) if opts["json"] else said)
            return
        session = WorkerSession(
            opts["worker_id"], opts["seconds"], opts["idle_poll"], until_idle=opts["until_idle"]
        )
        report = session.run()
        self.stdout.write(dump(report.__dict__))
