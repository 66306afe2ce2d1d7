"""The wake hook (seed 004's `POST /hooks/agent`): tell an outside runtime that its external
agent has work waiting, so it claims at once instead of at its next poll. A wake is an outbox
row — one per job reaching the head of that agent's queue (the key) — delivered with a deadline
and retried with backoff; a runtime that cannot be reached keeps the failure on the row, and
its jobs simply wait for its next claim-jobs."""

from django.conf import settings
from django.db.models import Min
from django.db.models.functions import Now

from missions.crawl import deadline_client
from missions.models import OutboxMessage, Step, StepStatus
from missions.outbox import ChannelSaidNo, Held, held_by_its_step
from missions.step_kinds import runs_inside_q
from missions.step_switches import held_by_a_switch
from opscore.db import Channel, notify
from opscore.lanes import lane_of_kind, pause_of
from opscore.models import Agent, Override, Policy, Runtime
from opscore.web_urls import UnusableURL, usable

CHANNEL = "agent.wake"
TASK_REF_KEYS = ("taskId", "task_id", "runId", "run_id")  # what the seed's dispatcher reads
SWITCHED_OFF_RECHECK_SECONDS = 60
REF_CHARS = OutboxMessage._meta.get_field("external_id").max_length


def wake_body(agent: str) -> dict:
    """The seed's /hooks/agent body. The job itself stays in Opscore: the runtime claims it
    with its own token, so no payload (untrusted text included) rides on the wake."""
    return {
        "agentId": agent,
        "name": "opscore:work-waiting",
        "message": f"Opscore has work waiting for {agent}. Claim it with claim-jobs, keep the "
        "lease with renew-job-lease, and close each job with complete-job, block-job or "
        "fail-job (agent API or MCP tools).",
        "wakeMode": "now",
        "deliver": False,
        "timeoutSeconds": 300,
    }


def wake_external_agents() -> int:
    """Write a wake for each external agent with a wake URL whose queue has a new head."""
    heads = (
        Step.objects.filter(
            status=StepStatus.QUEUED,
            run_after__lte=Now(),
            agent__runtime=Runtime.EXTERNAL,
            agent__enabled=True,
            agent__draining=False,
        )
        .exclude(agent__wake_url="")
        .exclude(runs_inside_q())
        .exclude(held_by_a_switch())  # claims skip them
        .values("agent_id")
        .annotate(head=Min("id"))
    )
    written = 0
    for row in heads:
        _, created = OutboxMessage.objects.get_or_create(
            key=f"{CHANNEL}:{row['agent_id']}:{row['head']}",
            defaults={"channel": CHANNEL, "payload": wake_body(row["agent_id"])},
        )
        written += created
    if written:
        notify(Channel.OUTBOX)  # the deliverer sends it once this commits
    return written


class WakeRefused(Exception):
    """The runtime's hook answered anything but 2xx (a redirect is not followed: nothing took
    the wake). httpx's own error quotes the whole URL, whose query may hold the hook's key."""


def deliver_wake(message: OutboxMessage) -> str:
    """POST the wake to the agent's wake URL, over within OPS_AGENT_WAKE_TIMEOUT_SECONDS in all
    (a runtime trickling its answer holds the deliverer no longer)."""
    agent = Agent.objects.get(slug=message.payload["agentId"])
    if why := switched_off(agent):
        raise Held(f"held: {why}", retry_after=SWITCHED_OFF_RECHECK_SECONDS)
    if why := held_head(message):
        raise Held(f"held: {why}", retry_after=SWITCHED_OFF_RECHECK_SECONDS)
    if not agent.wake_url:
        raise LookupError(f"agent {agent.slug} has no wake URL any more")
    wake_url = usable_wake_url(agent)
    headers = {"Idempotency-Key": message.key}
    if settings.OPS_AGENT_HOOK_TOKEN:
        headers["Authorization"] = f"Bearer {settings.OPS_AGENT_HOOK_TOKEN}"
    with deadline_client(float(settings.OPS_AGENT_WAKE_TIMEOUT_SECONDS)) as client:
        response = client.post(wake_url, json=message.payload, headers=headers)
    if not response.is_success:  # said without the URL, which may carry the hook's key
        raise WakeRefused(f"the runtime answered {response.status_code} {response.reason_phrase}")
    return task_ref(response) or f"wake-{message.id}"


def task_ref(response) -> str | None:
    """The runtime's own reference for the wake, when its answer gives one a row can hold. A
    2xx is the wake taken, whatever the body: one that is not JSON, or an id too long for the
    column (or with a NUL, which Postgres refuses), failed a delivered wake, and the wake was
    sent again on every retry."""
    try:
        answer = response.json()
    except ValueError:
        return None
    for key in TASK_REF_KEYS if isinstance(answer, dict) else ():
        ref = answer.get(key)
        ref = str(ref) if isinstance(ref, str | int) and not isinstance(ref, bool) else ""
        if ref and len(ref) <= REF_CHARS and ref.isprintable():
            return ref
    return None


def switched_off(agent: Agent) -> str | None:
    """Why the agent takes no new work now (disabled, draining): a wake queued before the
    switch waits with it, no attempt spent, rather than telling its runtime to claim."""
    if not agent.enabled:
        return Override.objects.why_disabled(agent.slug)
    return f"{agent.slug} is draining" if agent.draining else None


def held_head(message: OutboxMessage) -> str | None:
    """What holds the job the wake was written for (its key ends in the step's id): its lane
    paused, its kind switched off (a drain, the breaker) or its mission paused. claim-jobs hands
    out none of those, so a wake queued before the switch waits for it to be lifted rather than
    tell the runtime to claim work it may not take, and is sent once it may."""
    step_id = message.key.rpartition(":")[2]
    step = Step.objects.filter(pk=int(step_id)).first() if step_id.isdigit() else None
    if step is None:
        return None
    if pause := pause_of(lane_of_kind(step.kind)):
        return pause.why
    if not Policy.objects.value("worker_switches").is_enabled(step.kind):
        return f"workers for {step.kind} are switched off"
    return held_by_its_step(step)


def usable_wake_url(agent: Agent) -> str:
    """The agent's wake URL as it is sent (a Unicode host as its A-label), checked as the
    field's validator checks a new one (opscore.web_urls): a URL stored before that validator
    may name no address — httpx sends a port past 65535 to that port modulo 65536, someone
    else's. Such a wake fails for good with the reason: sent again, it would fail again."""
    try:
        return usable(agent.wake_url).geturl()
    except UnusableURL as unusable:
        raise ChannelSaidNo(f"unusable wake URL: {unusable}", retry_after=None) from None
