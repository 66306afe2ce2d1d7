"""The write path an external agent runtime uses (the agentbus), as JSON in and out.

Every verb calls the same actions the rest of Opscore uses: jobs enter through the single intake,
completions are fenced by the lease token, standing-order runs go through start/finish. The
verbs live in console.agentbus_verbs and in each lane's agentbus.py (registered from its
ready()), shared with the HTTP API and the MCP server; this command is their CLI transport
(exit 2 for bad input, 3 for a refused write).
"""

import sys

from django.core.management.base import CommandError, CommandParser

from console.agentbus_inputs import BadInput, Refused, check_sizes, flag
from console.agentbus_verbs import run_verb
from missions.agentbus import add_runtime_verbs
from opscore.cli import OpsCommand, add_verbs, decimal, dump, whole
from opscore.models import RunStatus
from opscore.registry import AGENTBUS_PARSERS


def emit_error(message: str, errors: dict | None = None, code: int = 2):
    sys.stdout.write(dump({"ok": False, "error": message, "errors": errors or {}}) + "\n")
    raise SystemExit(code)


class JsonErrorParser(CommandParser):
    def error(self, message):
        if self.called_from_command_line:
            emit_error(f"bad arguments: {message}")
        raise CommandError(message)


def add_all_verbs(parser) -> None:
    verbs = add_verbs(parser)
    add_job_verbs(verbs)
    add_order_verbs(verbs)
    for add_lane_verbs in AGENTBUS_PARSERS.values():  # each lane's, from its ready()
        add_lane_verbs(verbs)
    add_runtime_verbs(verbs)


class Command(OpsCommand):
    help = "The agentbus verbs: the durable write path for an agent runtime."

    def add_arguments(self, parser):
        parser.__class__ = JsonErrorParser  # argument errors answer in JSON too, sub-verbs included
        add_all_verbs(parser)

    def handle(self, *args, verb, **opts):
        try:
            check_sizes(opts)
            body = run_verb(verb, opts)
        except BadInput as bad:
            said = bad.as_json(flag)
            emit_error(said["error"], said["errors"], code=3 if isinstance(bad, Refused) else 2)
        self.stdout.write(dump(body))


def add_job_verbs(verbs) -> None:
    job = verbs.add_parser("enqueue-job", help="a job for an agent, through the intake")
    job.add_argument("--target-agent", required=True)
    job.add_argument("--subject", required=True)
    job.add_argument("--kind", default="analyze")
    job.add_argument("--payload", default="{}")
    job.add_argument("--priority", type=whole, default=100)
    job.add_argument("--max-attempts", type=whole, default=3)
    job.add_argument("--dedupe-key")
    job.add_argument("--source-agent")
    job.add_argument("--depends-on", type=whole, action="append", default=[], help="job id")
    job.add_argument("--run-after", help="ISO 8601; not before then")
    event = verbs.add_parser("emit-event", help="record an event reactions may answer")
    event.add_argument("--topic", required=True)
    event.add_argument("--source-agent")
    event.add_argument("--title")
    event.add_argument("--payload", default="{}")
    event.add_argument("--dedupe-key")
    claim = verbs.add_parser("claim-jobs", help="lease queued jobs of an outside runtime's agent")
    claim.add_argument("--lease-owner", required=True)
    claim.add_argument("--lease-seconds", type=decimal, default=600)
    claim.add_argument("--limit", type=whole, default=1)
    claim.add_argument(
        "--target-agent", required=True, help="the agent you work for (its runtime: external)"
    )
    for name in ("complete-job", "block-job", "fail-job"):
        verb = verbs.add_parser(name, help=f"end a leased job: {name.removesuffix('-job')}")
        verb.add_argument("job_id", type=whole)
        verb.add_argument("--lease-token", required=True)
        verb.add_argument("--summary", default="")
        verb.add_argument("--result", default="{}")
    verbs.choices["block-job"].add_argument("--blocked-reason", required=True)
    verbs.choices["fail-job"].add_argument("--last-error", required=True)
    verbs.choices["fail-job"].add_argument("--no-retry", action="store_true")


def add_order_verbs(verbs) -> None:
    requeue = verbs.add_parser("requeue-expired", help="queue again jobs whose lease ran out")
    requeue.add_argument("--limit", type=whole, default=1000)
    start = verbs.add_parser("start-standing-order", help="record a standing order's run begun")
    start.add_argument("--agent-id", required=True)
    start.add_argument("--order-name", required=True)
    start.add_argument("--scheduled-for", required=True)
    finish = verbs.add_parser("finish-standing-order", help="record how that run ended")
    finish.add_argument("run_id", type=whole)
    finish.add_argument(
        "--status", required=True, choices=[s for s in RunStatus.values if s != "started"]
    )
    finish.add_argument("--summary", default="")
    finish.add_argument("--evidence", default="{}")
