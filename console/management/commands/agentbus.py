"""The write path an external agent runtime uses (the agentbus), as JSON in and out.

Every verb calls the same actions the rest of Opscore uses: jobs enter through the single intake,
completions are fenced by the lease token, standing-order runs go through start/finish.
"""

import sys
import uuid
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser

from console import agentbus_jobs, agentbus_memory, agentbus_opportunities
from console.agentbus_jobs import add_runtime_verbs, delay_until
from console.agentbus_memory import add_memory_verbs
from console.agentbus_opportunities import VERBS as OPPORTUNITY_VERBS
from console.agentbus_opportunities import add_opportunity_verbs
from missions.actions import submit_proposal
from missions.execution import claim_next_step, record_outcome
from missions.executors import Blocked, Failed, Succeeded
from missions.models import ProposalSource, Step
from missions.recovery import reap_expired_leases
from missions.schemas import ProposalInvalid
from opscore.actions import record_event
from opscore.inputs import InputRefused, max_bytes, parse_json
from opscore.management.commands._json import dump
from opscore.models import Agent, RunStatus, StandingOrder, StandingOrderRun
from opscore.standing_orders import RunResult, finish_run, start_run


class BadInput(Exception):
    def __init__(self, message, errors=None):
        super().__init__(message)
        self.errors = errors or {}


def emit_error(message: str, errors: dict | None = None, code: int = 2):
    sys.stdout.write(dump({"ok": False, "error": message, "errors": errors or {}}) + "\n")
    raise SystemExit(code)


class JsonErrorParser(CommandParser):
    def error(self, message):
        if self.called_from_command_line:
            emit_error(f"bad arguments: {message}")
        raise CommandError(message)


def check_sizes(opts: dict) -> None:
    """Text arguments obey the same size limit as JSON ones (and as API bodies)."""
    for name, value in opts.items():
        if isinstance(value, str) and len(value.encode()) > max_bytes():
            option = f"--{name.replace('_', '-')}"
            raise BadInput(f"{option}: at most {max_bytes()} bytes", {option: ["too large"]})


def json_arg(text: str, name: str):
    """A JSON literal, '-' for stdin, or @path for a file; within the input limits."""
    limit = max_bytes()
    if text == "-":
        text = sys.stdin.read(limit + 1)
    elif text.startswith("@"):
        try:
            with open(text[1:], "rb") as handle:
                text = handle.read(limit + 1)
        except OSError as error:
            raise BadInput(f"cannot read {text[1:]}: {error.strerror}") from None
    try:
        return parse_json(text, name)
    except InputRefused as refused:
        raise BadInput(f"--{name}: {refused.message}", {f"--{name}": [refused.message]}) from None


def json_object(text: str, name: str) -> dict:
    value = json_arg(text, name)
    if not isinstance(value, dict):
        raise BadInput(f"--{name} must be a JSON object")
    return value


def iso_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"not an ISO-8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise BadInput(f"time needs a zone (e.g. Z): {text!r}")
    return value


def token(text: str):
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadInput(f"--lease-token is not a UUID: {text!r}") from None


def step_json(step: Step) -> dict:
    return {
        "id": step.id,
        "mission_id": step.mission_id,
        "kind": step.kind,
        "agent": step.agent_id,
        "payload": step.payload,
        "status": step.status,
        "attempt": step.attempt_count,
        "lease_token": str(step.lease_token) if step.lease_token else None,
        "lease_expires_at": step.lease_expires_at.isoformat() if step.lease_expires_at else None,
    }


class Command(BaseCommand):
    help = "The agentbus verbs: the durable write path for an agent runtime."

    def add_arguments(self, parser):
        parser.__class__ = JsonErrorParser  # argument errors answer in JSON too, sub-verbs included
        verbs = parser.add_subparsers(dest="verb", required=True)
        add_job_verbs(verbs)
        add_order_verbs(verbs)
        add_memory_verbs(verbs)
        add_opportunity_verbs(verbs)
        add_runtime_verbs(verbs)

    def handle(self, *args, verb, **opts):
        try:
            check_sizes(opts)
            if verb in OPPORTUNITY_VERBS:
                body = agentbus_opportunities.run(verb, json_arg, BadInput, opts)
            else:
                body = getattr(self, verb.replace("-", "_"))(**opts)
        except BadInput as bad:
            emit_error(str(bad), bad.errors)
        except ProposalInvalid as invalid:
            emit_error("invalid job", invalid.errors)
        self.stdout.write(dump({"ok": True, **body}))

    def create_memory_candidate(self, **o):
        return agentbus_memory.create_memory_candidate(json_arg, BadInput, **o)

    def promote_memory_candidate(self, **o):
        return agentbus_memory.promote_memory_candidate(BadInput, **o)

    def enqueue_job(self, **o):
        data = {
            "agent": o["target_agent"],
            "title": o["subject"],
            "steps": [
                {
                    "kind": o["kind"],
                    "payload": json_object(o["payload"], "payload"),
                    "priority": o["priority"],
                    "max_attempts": o["max_attempts"],
                    "after_steps": o["depends_on"],
                    "delay_seconds": delay_until(iso_time(o["run_after"]), BadInput)
                    if o["run_after"]
                    else 0,
                }
            ],
        }
        if o["dedupe_key"]:
            data["dedupe_key"] = o["dedupe_key"]
        cause = f"agentbus:{o['source_agent']}" if o["source_agent"] else "agentbus"
        result = submit_proposal(data, source=ProposalSource.API, cause_ref=cause)
        body = result.as_json()
        return {"proposal": body, "duplicate": body.pop("duplicate")}

    def emit_event(self, **o):
        agent = None
        if o["source_agent"]:
            agent = Agent.objects.filter(slug=o["source_agent"]).first()
            if agent is None:
                raise BadInput(f"unknown agent {o['source_agent']!r}")
        event = record_event(
            o["topic"],
            o["title"] or o["topic"],
            payload=json_object(o["payload"], "payload"),
            tags=o["topic"].split("."),
            agent=agent,
            actor="agentbus",
            dedupe_key=o["dedupe_key"],
        )
        return {"event": event.as_json()}

    def claim_jobs(self, **o):
        if not 1 <= o["limit"] <= 100:
            raise BadInput("--limit must be between 1 and 100")
        claimed = []
        for _ in range(o["limit"]):
            step = claim_next_step(
                o["lease_owner"], lease_seconds=o["lease_seconds"], agent=o["target_agent"]
            )
            if step is None:
                break
            claimed.append(step_json(step))
        return {"jobs": claimed}

    def mark_running_job(self, **o):
        return agentbus_jobs.mark_running_job(
            o, token=token, json_object=json_object, bad_input=BadInput, refused=emit_error
        )

    def renew_job_lease(self, **o):
        return agentbus_jobs.renew_job_lease(o, token=token, bad_input=BadInput, refused=emit_error)

    def _finish(self, job_id, lease_token, outcome):
        if not Step.objects.filter(pk=job_id).exists():
            raise BadInput(f"no job {job_id}")
        applied = record_outcome(job_id, token(lease_token), outcome)
        if not applied:
            emit_error(f"job {job_id}: the lease token no longer holds; refused", code=3)
        return {"job": step_json(Step.objects.get(pk=job_id))}

    def complete_job(self, job_id, lease_token, summary, result, **o):
        result = json_object(result, "result") | ({"summary": summary} if summary else {})
        return self._finish(job_id, lease_token, Succeeded(result))

    def block_job(self, job_id, lease_token, blocked_reason, **o):
        return self._finish(job_id, lease_token, Blocked(blocked_reason))

    def fail_job(self, job_id, lease_token, last_error, no_retry, **o):
        return self._finish(job_id, lease_token, Failed(last_error, retryable=not no_retry))

    def requeue_expired(self, limit, **o):
        return {"counts": reap_expired_leases(limit=limit)}

    def start_standing_order(self, agent_id, order_name, scheduled_for, **o):
        order = StandingOrder.objects.filter(agent_id=agent_id, name=order_name).first()
        if order is None:
            raise BadInput(f"no standing order {agent_id}/{order_name}")
        run = start_run(order, iso_time(scheduled_for))
        if run is None:
            run = order.runs.get(scheduled_for=iso_time(scheduled_for))
            return {"run_id": run.id, "status": run.status, "already_recorded": True}
        return {"run_id": run.id, "status": run.status}

    def finish_standing_order(self, run_id, status, summary, evidence, **o):
        run = StandingOrderRun.objects.filter(pk=run_id).first()
        if run is None:
            raise BadInput(f"no standing-order run {run_id}")
        if not finish_run(run, RunResult(status, summary, json_object(evidence, "evidence"))):
            emit_error(f"run {run_id} is already {run.status}", code=3)
        return {"run_id": run.id, "status": run.status}


def add_job_verbs(verbs) -> None:
    job = verbs.add_parser("enqueue-job")
    job.add_argument("--target-agent", required=True)
    job.add_argument("--subject", required=True)
    job.add_argument("--kind", default="analyze")
    job.add_argument("--payload", default="{}")
    job.add_argument("--priority", type=int, default=100)
    job.add_argument("--max-attempts", type=int, default=3)
    job.add_argument("--dedupe-key")
    job.add_argument("--source-agent")
    job.add_argument("--depends-on", type=int, action="append", default=[], help="job id")
    job.add_argument("--run-after", help="ISO 8601; not before then")
    event = verbs.add_parser("emit-event")
    event.add_argument("--topic", required=True)
    event.add_argument("--source-agent")
    event.add_argument("--title")
    event.add_argument("--payload", default="{}")
    event.add_argument("--dedupe-key")
    claim = verbs.add_parser("claim-jobs")
    claim.add_argument("--lease-owner", required=True)
    claim.add_argument("--lease-seconds", type=float, default=600)
    claim.add_argument("--limit", type=int, default=1)
    claim.add_argument("--target-agent", default="", help="only this agent's work")
    for name in ("complete-job", "block-job", "fail-job"):
        verb = verbs.add_parser(name)
        verb.add_argument("job_id", type=int)
        verb.add_argument("--lease-token", required=True)
        verb.add_argument("--summary", default="")
        verb.add_argument("--result", default="{}")
    verbs.choices["block-job"].add_argument("--blocked-reason", required=True)
    verbs.choices["fail-job"].add_argument("--last-error", required=True)
    verbs.choices["fail-job"].add_argument("--no-retry", action="store_true")


def add_order_verbs(verbs) -> None:
    requeue = verbs.add_parser("requeue-expired")
    requeue.add_argument("--limit", type=int, default=1000)
    start = verbs.add_parser("start-standing-order")
    start.add_argument("--agent-id", required=True)
    start.add_argument("--order-name", required=True)
    start.add_argument("--scheduled-for", required=True)
    finish = verbs.add_parser("finish-standing-order")
    finish.add_argument("run_id", type=int)
    finish.add_argument(
        "--status", required=True, choices=[s for s in RunStatus.values if s != "started"]
    )
    finish.add_argument("--summary", default="")
    finish.add_argument("--evidence", default="{}")
