"""Workflows on agents, policies and events. Each is atomic and leaves an audit row."""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Now

from opscore.compiled import insert_row
from opscore.db import db_now
from opscore.models import Agent, Event, Override, Policy, PolicyVersion, Runtime
from opscore.models.policies import end_policy_snapshot
from opscore.policies import validate_policy
from opscore.redaction import redact, redact_text


def record_event(kind: str, title: str, *, summary: str = "", tags=(), payload=None, **refs):
    """Append an event. Text and payload are redacted of secrets before they are stored.

    `refs` are agent, proposal, mission, step, actor and dedupe_key. A repeated dedupe key returns
    the event already written instead of a second one.
    """
    dedupe_key = refs.pop("dedupe_key", None)
    fields = _event_fields(kind, title, summary, tags, payload, refs)
    if dedupe_key is None:
        return insert_row(Event(**fields))  # the hottest write: its INSERT compiled once
    event, _ = Event.objects.get_or_create(kind=kind, dedupe_key=dedupe_key, defaults=fields)
    return event


def unsaved_event(kind: str, title: str, *, summary: str = "", tags=(), payload=None, **refs):
    """The event record_event would append, redacted alike but not yet stored: for a caller
    that stores a batch of them in one INSERT before its transaction commits."""
    return Event(**_event_fields(kind, title, summary, tags, payload, refs))


def _event_fields(kind, title, summary, tags, payload, refs) -> dict:
    return dict(
        kind=kind,
        title=redact_text(title)[:300],
        summary=redact_text(summary),
        tags=list(tags),
        payload=redact(payload or {}),
        **refs,
    )


CAP_ROW_EVERY = timedelta(hours=1)


@transaction.atomic
def record_cap_hit(loop: str, limit: int, waiting: int, *, actor: str) -> Event | None:
    """A loop that stopped at its cap with work left says so in a row: a cut-short pass must not
    read as one that found nothing more to do. A backlog outlasts many passes, run every
    minute: the row is written when the loop starts being capped, then at most once every
    CAP_ROW_EVERY (by the database's clock) while it stays so, saying what waits then; the
    passes between write none (None), so the log and the Stage are not flooded with copies."""
    with connection.cursor() as cursor:  # two passes of one loop at once: one row
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"sweep.capped.{loop}"])
    recent = Event.objects.filter(kind="sweep.capped", created_at__gt=db_now() - CAP_ROW_EVERY)
    if recent.filter(payload__loop=loop).exists():
        return None
    return record_event(
        "sweep.capped",
        f"{loop} stopped at its cap of {limit}; {waiting} waiting",
        summary="While it stays capped, one such row an hour says what waits then.",
        tags=["sweep", "capped"],
        payload={"loop": loop, "limit": limit, "waiting": waiting},
        actor=actor,
    )


def capped_loops() -> dict[str, int]:
    """Each loop capped lately, with what waited at its latest row. A loop capped pass after
    pass writes a row every CAP_ROW_EVERY: within two of them, its backlog is still there."""
    since = db_now() - 2 * CAP_ROW_EVERY
    rows = Event.objects.filter(kind="sweep.capped", created_at__gt=since).order_by("id")
    latest = {}
    for payload in rows.values_list("payload", flat=True):
        if isinstance(payload, dict) and isinstance(payload.get("loop"), str):
            latest[payload["loop"]] = payload.get("waiting")
    return latest


@transaction.atomic
def set_policy(key: str, value, *, actor: str, reason: str = "") -> Policy:
    """Validate, store and version a policy value. A refused value raises PolicyError and
    leaves the previous version in force with no version row written."""
    end_policy_snapshot()
    policy = Policy.objects.select_for_update().filter(key=key).first()
    normalised = validate_policy(key, value, stored=policy.value if policy else None)
    if policy is not None and policy.value == normalised:
        return policy
    old_value = policy.value if policy else None
    if policy is None:
        policy = Policy.objects.create(key=key, value=normalised, version=1, updated_by=actor)
    else:
        Policy.objects.filter(pk=key).update(
            value=normalised, version=F("version") + 1, updated_by=actor, updated_at=Now()
        )
        policy.refresh_from_db()
    PolicyVersion.objects.create(
        policy=policy,
        version=policy.version,
        old_value=old_value,
        new_value=normalised,
        changed_by=actor,
        reason=reason,
    )
    record_event(
        "policy.changed",
        f"Policy {key} is now version {policy.version}",
        summary=reason,
        tags=["policy", key],
        payload={"key": key, "version": policy.version, "old": old_value, "new": normalised},
        actor=actor,
    )
    return policy


class AgentSwitchHeld(ValueError):
    """An agent's switch an override holds: the message names the override to lift."""

    def __init__(self, agent: Agent, override: Override):
        self.override = override
        super().__init__(
            f"{agent.slug} is disabled by override {override.id} ({override.reason}): lift it "
            f"to change that (admin → Overrides, "
            f'`.venv/bin/opscore override lift {override.id} --reason "…"`)'
        )


@transaction.atomic
def set_agent_enabled(agent: Agent, enabled: bool, *, actor: str) -> bool:
    """Returns whether anything changed. While a disable-agent override is in force the switch
    is the override's (its lift restores what was there): every caller — the admin's actions,
    bootstrap — is refused here with AgentSwitchHeld, so the rule lives in one place. The
    agent's row is locked first, so an override applied meanwhile is seen (its effect waits on
    the same row)."""
    Agent.objects.select_for_update().filter(pk=agent.pk).first()
    held = Override.objects.holding(agent.slug, "enabled")
    if held is not None:
        raise AgentSwitchHeld(agent, held)
    changed = Agent.objects.filter(pk=agent.pk).exclude(enabled=enabled).update(enabled=enabled)
    agent.enabled = enabled
    if changed:
        verb = "enabled" if enabled else "disabled"
        record_event(
            f"agent.{verb}",
            f"Agent {agent.slug} {verb}",
            tags=["agent", verb],
            agent=agent,
            actor=actor,
        )
    return bool(changed)


@transaction.atomic
def add_outside_agent(slug: str, *, actor: str) -> Agent:
    """An enabled agent whose jobs an outside runtime claims through the agent bus, so the
    README's connect-a-runtime steps work on a fresh install without a trip to the admin."""
    agent = Agent(
        slug=slug,
        display_name=slug.replace("-", " ").title()[:100],
        role="outside runtime (claims its jobs through the agent bus)",
        enabled=True,
        runtime=Runtime.EXTERNAL,
    )
    agent.full_clean()
    agent.save(force_insert=True)
    record_event(
        "agent.added",
        f"{slug} added as an outside runtime",
        tags=["agent_api"],
        agent=agent,
        actor=actor,
    )
    return agent
