"""The agent-bus verbs, one implementation behind every transport: `manage.py agentbus` (CLI),
`/api/agent/<verb>` (HTTP) and `manage.py agent_mcp` (MCP tools). Each takes the parsed options
of its verb (console.agentbus_parser builds them, so validation is the same everywhere) and
returns the JSON body; errors are console.agentbus_inputs exceptions."""

import re
from contextlib import nullcontext

from django.db import transaction

from console.agentbus_inputs import (
    BadInput,
    Forbidden,
    NotFound,
    Refused,
    iso_time,
    json_arg,
    json_object,
    refuse,
    token,
)
from console.agentbus_orders import finish_standing_order, start_standing_order
from missions import agentbus as agentbus_jobs
from missions.actions import submit_proposal
from missions.agentbus import (
    ENQUEUED_AS,
    delay_until,
    enqueued_option,
    enqueued_problems,
    handed_over,
    run_by_opscore,
)
from missions.binding import refusal_if_changed
from missions.execution import claim_next_step, record_outcome, refusal_of
from missions.executors import Blocked, Failed, Succeeded
from missions.models import ProposalSource, Step
from missions.provenance import runtime_lease_owner
from missions.recovery import reap_expired_leases
from missions.schemas import ProposalInvalid
from missions.staleness import stale_outcome
from missions.step_kinds import runs_inside
from opscore.actions import record_event
from opscore.models import Agent, Runtime
from opscore.registry import AGENTBUS_VERBS
from opscore.text import ReasonRefused, checked_reason


def run_verb(verb: str, opts: dict) -> dict:
    """Run one verb; the body is what every transport answers on success."""
    try:
        if verb in AGENTBUS_VERBS:  # a lane's (memory.agentbus, opportunities.agentbus …)
            body = AGENTBUS_VERBS[verb](json_arg, BadInput, opts)
        else:
            body = VERBS[verb](**opts)
    except ProposalInvalid as invalid:
        raise BadInput("invalid job", invalid.errors) from None
    except ReasonRefused as refused:  # a reason held to the rule every surface applies
        option = refused.field if refused.field in opts else None
        raise BadInput(str(refused), refused.errors, option=option) from None
    return {"ok": True, **body}


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


def outside_job(job_id: int) -> Step:
    """A job an outside runtime may touch: it exists, and it is not one only Opscore's own
    workers run (a coding run with its tests and approvals, a gated deploy, a post, a policy
    change): the refusal says that, whichever it is."""
    step = Step.objects.filter(pk=job_id).first()
    if step is None:
        raise NotFound(f"no job {job_id}")
    if runs_inside(step.kind, step.payload):
        raise Forbidden(f"job {job_id} is a {step.kind}: only Opscore's own workers run it")
    return step


def enqueue_job(**o):
    try:
        return _enqueue(o)
    except ProposalInvalid as invalid:
        errors: dict[str, list[str]] = {}
        for path, problems in invalid.errors.items():
            errors.setdefault(enqueued_option(path), []).extend(enqueued_problems(path, problems))
        raise BadInput("invalid job", errors, options=ENQUEUED_AS.values()) from None


def _enqueue(o: dict) -> dict:
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
                "delay_seconds": delay_until(iso_time(o["run_after"], "run_after"), BadInput)
                if o["run_after"]
                else 0,
            }
        ],
    }
    if o["dedupe_key"]:
        data["dedupe_key"] = o["dedupe_key"]
    source = o["source_agent"]
    cause = f"agentbus:{source}" if source else "agentbus"
    handed = handed_over(source, o["target_agent"])
    hander = Agent.objects.filter(slug=source).first() if handed else None
    if handed and hander is None:
        raise ProposalInvalid({"source_agent": [f"unknown agent {source!r}"]})
    payload = data["steps"][0]["payload"]
    why = handed or run_by_opscore(o["kind"], payload, source or o["target_agent"])
    result = submit_proposal(
        data, source=ProposalSource.API, cause_ref=cause, untrusted_reason=why, handed_by=hander
    )
    body = result.as_json()
    return {"proposal": body, "duplicate": body.pop("duplicate")}


# Event namespaces Opscore writes itself: an outside runtime may not forge them (a fake
# `breaker.tripped` or `insight.promoted` would read as Opscore's own evidence and fire triggers).
# tests/console/test_agent_api_confined.py reads the code for every kind it records: none is
# left out.
RESERVED_TOPICS = frozenset(
    [
        "agent",
        "agent_token",
        "alert",
        "backup",
        "bootstrap",
        "breaker",
        "channel",
        "chat",
        "cluster",
        "coding",
        "config",
        "conversation",
        "deploy",
        "digest",
        "feedback",
        "first_boot",
        "goal",
        "heartbeat",
        "idea",
        "idle",
        "initiative",
        "insight",
        "llm",
        "memory",
        "mission",
        "notice",
        "opportunity",
        "outbox",
        "override",
        "policy",
        "proactive",
        "proposal",
        "publication",
        "reaction",
        "roundtable",
        "runaway",
        "stage",
        "standing_order",
        "step",
        "sweep",
        "talk",
        "thread",
        "trigger",
        "tweet",
        "vault",
        "worker",
    ]
)


# A topic is a dotted name, as Opscore's own are: no capitals or look-alike characters that
# would read as a reserved namespace on the Signal feed, and short enough for Event.kind.
TOPIC = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
MAX_TOPIC, MAX_DEDUPE_KEY = 100, 200
MAX_TITLE = 300  # Event.title's column: record_event cuts an internal title there
MAX_LEASE_SECONDS, MAX_LEASE_OWNER = 24 * 3600, 200  # Step.lease_owner's column
MAX_REQUEUE = 10_000  # requeue-expired --limit (a CLI-only verb; default 1000)


def check_event_names(topic: str, title: str | None, dedupe_key: str | None) -> None:
    if len(topic) > MAX_TOPIC or not TOPIC.fullmatch(topic):
        raise BadInput(
            f"a dotted name of at most {MAX_TOPIC} characters a-z, 0-9, _ and - "
            "(e.g. ops.disk.checked)",
            {"topic": ["not a dotted lower-case name"]},
            option="topic",
        )
    if title is not None and len(title) > MAX_TITLE:  # a runtime's own words: never cut
        limit = f"at most {MAX_TITLE} characters"
        raise BadInput(limit, option="title")
    if dedupe_key is not None and len(dedupe_key) > MAX_DEDUPE_KEY:
        limit = f"at most {MAX_DEDUPE_KEY} characters"
        raise BadInput(limit, option="dedupe_key")


def emit_event(**o):
    """An outside runtime's report, never Opscore's own evidence: reserved namespaces are
    refused, and every event it emits is marked untrusted, so work a trigger proposes because
    of it is never auto-approved (the intake reads the cause event's provenance)."""
    check_event_names(o["topic"], o["title"], o["dedupe_key"])
    namespace = o["topic"].split(".", 1)[0]
    if namespace in RESERVED_TOPICS:
        raise BadInput(
            f"{o['topic']!r} is in Opscore's own {namespace!r} namespace; "
            "emit your runtime's events under another (e.g. ops.checked)",
            {"topic": ["reserved namespace"]},
            option="topic",
        )
    agent = None
    if o["source_agent"]:
        agent = Agent.objects.filter(slug=o["source_agent"]).first()
        if agent is None:
            raise BadInput(f"unknown agent {o['source_agent']!r}")
    event = record_event(
        o["topic"],
        o["title"] or o["topic"],
        payload=json_object(o["payload"], "payload") | {"untrusted": True},
        tags=o["topic"].split("."),
        agent=agent,
        actor="agentbus",
        dedupe_key=o["dedupe_key"],
    )
    return {"event": event.as_json()}


def claim_jobs(**o):
    """Only the calling agent's jobs, and only an external agent's: an internal agent's jobs
    belong to Opscore's workers, and two claimers racing for them starve the runtime."""
    if not 1 <= o["limit"] <= 100:
        raise BadInput("must be between 1 and 100", option="limit")
    if not 1 <= o["lease_seconds"] <= MAX_LEASE_SECONDS:  # NaN fails too; renew-job-lease's bound
        raise BadInput(f"must be between 1 and {MAX_LEASE_SECONDS}", option="lease_seconds")
    slug = o["target_agent"]
    # Named under its agent, never in an Opscore worker's `host:pid` shape: a runtime calling
    # itself after a worker lost its job when that worker exited, and its events read as the
    # worker's (and what it reported stays its word: missions.provenance.ran_outside).
    owner = runtime_lease_owner(slug, o["lease_owner"].strip())
    room = MAX_LEASE_OWNER - len(runtime_lease_owner(slug, ""))
    if not 1 <= len(o["lease_owner"].strip()) <= room:
        raise BadInput(f"1 to {room} characters", option="lease_owner")
    runtime = Agent.objects.filter(slug=slug).values_list("runtime", flat=True).first()
    if runtime is None:
        raise BadInput(
            f"unknown agent {slug!r}", {"target_agent": ["no such agent"]}, option="target_agent"
        )
    if runtime != Runtime.EXTERNAL:
        raise Forbidden(
            f"agent {slug!r} is run by Opscore's workers (runtime internal); set its runtime "
            "to external (admin → Agents) for an outside runtime to work for it"
        )
    return {"jobs": claim_each(owner, slug, o["limit"], o["lease_seconds"])}


@transaction.atomic
def claim_each(owner: str, slug: str, limit: int, lease_seconds: float) -> list[dict]:
    """Up to `limit` of the agent's jobs, leased in one transaction: claimed one by one in
    autocommit, a database error part way (a deadline, a lost connection) left the jobs claimed
    before it leased to a runtime that never got their tokens, for as long as the lease ran."""
    claimed = []
    for _ in range(limit):
        step = claim_next_step(owner, lease_seconds=lease_seconds, agent=slug)
        if step is None:
            break
        # An approval holds outside Opscore's workers too, and so does a kind's max age
        # after downtime (recovery_policy): a human decides whether yesterday's deploy runs.
        refused = stale_outcome(step) or refusal_if_changed(step)
        if refused is not None:
            record_outcome(step.id, step.lease_token, refused)
            continue
        claimed.append(step_json(step))
    return claimed


def mark_running_job(**o):
    outside_job(o["job_id"])
    return agentbus_jobs.mark_running_job(
        o, token=token, json_object=json_object, bad_input=BadInput, refused=refuse
    )


def renew_job_lease(**o):
    outside_job(o["job_id"])
    return agentbus_jobs.renew_job_lease(o, token=token, bad_input=BadInput, refused=refuse)


def _finish(job_id, lease_token, outcome, report=None):
    """A refused write answers what its step.late_write_refused event says (already
    succeeded, attempt ended, lost lease, another holder, cancelled): a runtime that sent a
    second completion must not read it as a lost lease."""
    outside_job(job_id)
    lease = token(lease_token)
    with transaction.atomic() if report else nullcontext():  # a completion commits alone
        if not (refusal := refusal_of(job_id, lease, outcome)):
            agentbus_jobs.keep_report(job_id, lease, report or {})
    if refusal:
        raise Refused(refusal)
    return {"job": step_json(Step.objects.get(pk=job_id))}


def complete_job(job_id, lease_token, summary, result, **o):
    result = json_object(result, "result") | ({"summary": summary} if summary else {})
    return _finish(job_id, lease_token, Succeeded(result))


def block_job(job_id, lease_token, blocked_reason, summary, result, **o):
    report = agentbus_jobs.ending_report(summary, result, json_object)
    reason = checked_reason(
        blocked_reason, needed_by="a block", what="a blocked reason", field="blocked_reason"
    )
    return _finish(job_id, lease_token, Blocked(reason), report)


def fail_job(job_id, lease_token, last_error, no_retry, summary, result, **o):
    report = agentbus_jobs.ending_report(summary, result, json_object)
    return _finish(job_id, lease_token, Failed(last_error, retryable=not no_retry), report)


def requeue_expired(limit, **o):
    if not 1 <= limit <= MAX_REQUEUE:  # a negative slice raised; a huge one overflowed bigint
        raise BadInput(f"must be between 1 and {MAX_REQUEUE}", option="limit")
    return {"counts": reap_expired_leases(limit=limit)}


VERBS = {
    "enqueue-job": enqueue_job,
    "emit-event": emit_event,
    "claim-jobs": claim_jobs,
    "mark-running-job": mark_running_job,
    "renew-job-lease": renew_job_lease,
    "complete-job": complete_job,
    "block-job": block_job,
    "fail-job": fail_job,
    "requeue-expired": requeue_expired,
    "start-standing-order": start_standing_order,
    "finish-standing-order": finish_standing_order,
}
