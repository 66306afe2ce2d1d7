"""Bring the company up phase by phase from roster templates (console/roster.py).

Idempotent by construction: it only creates what is missing and never edits a row an operator
may have changed, so re-running it changes nothing.
"""

from dataclasses import dataclass, field

from django.db import connection, transaction

from console.phases import criteria_before
from console.roster import (
    BootstrapError,
    Roster,
    installed_roster,
    load_roster,
)
from opscore.actions import AgentSwitchHeld, record_event, set_agent_enabled, set_policy
from opscore.db import AdvisoryLock
from opscore.models import Agent, Policy, StandingOrder
from opscore.policies import SCHEMAS, default_value

SUPPORTED_PHASES = (1, 2, 3, 4, 5)


@dataclass
class BootstrapReport:
    phase: int
    roster: str
    agents_created: list[str] = field(default_factory=list)
    agents_enabled: list[str] = field(default_factory=list)
    agents_held: list[str] = field(default_factory=list)  # left disabled: an override holds them
    policies_seeded: list[str] = field(default_factory=list)
    orders_created: list[str] = field(default_factory=list)
    rules_created: list[str] = field(default_factory=list)
    relationships_seeded: int = 0
    # In force from now: a phase that brings no new row with this roster is still applied,
    # or its hold never starts and the next phase's gate never opens
    newly_applied: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.newly_applied
            or self.agents_created
            or self.agents_enabled
            or self.policies_seeded
            or self.orders_created
            or self.rules_created
            or self.relationships_seeded
        )


class GateClosed(BootstrapError):
    """The previous phase's exit criteria do not pass."""


def bootstrap(
    phase: int, roster_name: str | None = None, *, actor: str, force: bool = False
) -> BootstrapReport:
    """`roster_name` defaults to the roster already installed (ops-ten on a fresh install). A
    phase already in force re-runs without its gate: it was passed (or forced) once, and a
    re-run only brings back what is missing, stopped system or not."""
    if phase not in SUPPORTED_PHASES:
        raise BootstrapError(f"phase {phase} is not available yet (supported: {SUPPORTED_PHASES})")
    if phase > 1 and not _already_applied(phase):
        _pass_gate(phase - 1, actor=actor, force=force)
    roster = load_roster(roster_name or installed_roster())
    _refuse_a_second_roster(roster.name)
    report = BootstrapReport(phase=phase, roster=roster.name)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [AdvisoryLock.BOOTSTRAP])
        report.newly_applied = not _already_applied(phase)
        _create_agents(roster, phase, report)
        if phase > 1 and report.newly_applied:
            _enable_phase_agents(roster, phase, report, actor)
        _seed_policies(roster, report, actor)
        _create_orders(roster, phase, report)
        _create_rules(roster, report)
        _seed_relationships(roster, report)
        if report.changed:
            record_event(
                "bootstrap.phase_applied",
                f"Bootstrap phase {phase} applied with roster {roster.name}",
                tags=["bootstrap", f"phase-{phase}"],
                payload={
                    "agents_created": report.agents_created,
                    "agents_enabled": report.agents_enabled,
                    "agents_held": report.agents_held,
                    "policies_seeded": report.policies_seeded,
                    "orders_created": report.orders_created,
                },
                actor=actor,
            )
    return report


def _refuse_a_second_roster(name: str) -> None:
    """An install is one company: another roster's agents would come with their own standing
    orders beside the installed ones (a second nightly backup, lease reaper, restore drill), so
    `--roster` may only name the roster already installed."""
    installed = Agent.objects.exclude(roster="").values_list("roster", flat=True).first()
    if installed and installed != name:
        raise BootstrapError(
            f"this install runs the {installed} roster; --roster {name} would add a second "
            f"company beside it (its agents and a second set of standing orders). Leave out "
            f"--roster, or bootstrap {name} on a fresh install"
        )


def _create_agents(roster: Roster, phase: int, report: BootstrapReport) -> None:
    for spec in roster.agents:
        fields = spec.model_dump(exclude={"slug", "phase"})
        enabled = spec.phase <= phase
        _, created = Agent.objects.get_or_create(
            slug=spec.slug, defaults={**fields, "enabled": enabled, "roster": roster.name}
        )
        if created:
            report.agents_created.append(spec.slug)
            if enabled:
                report.agents_enabled.append(spec.slug)


def _pass_gate(previous: int, *, actor: str, force: bool) -> None:
    """A closed gate is passed only by force; either way it is a row: who asked for which
    phase, and what held it back."""
    failing = [c for c in criteria_before(previous + 1) if not c.passed]
    if not failing:
        return
    reasons = "; ".join(f"{c.name} ({c.detail})" for c in failing)
    outcome, said = ("forced", "forced past") if force else ("refused", "refused over")
    record_event(
        f"bootstrap.gate_{outcome}",
        f"Phase {previous + 1} {said} failing phase-{previous} criteria, by {actor}",
        summary=reasons,
        tags=["bootstrap", outcome, f"phase-{previous + 1}"],
        actor=actor,
    )
    if not force:
        raise GateClosed(
            f"phase {previous} exit criteria fail: {reasons}. Use --force to override."
        )


def _already_applied(phase: int) -> bool:
    from opscore.models import Event

    return Event.objects.filter(
        kind="bootstrap.phase_applied", tags__contains=[f"phase-{phase}"]
    ).exists()


def _enable_phase_agents(roster: Roster, phase: int, report: BootstrapReport, actor: str):
    """An agent a disable-agent override holds stays disabled until the override is lifted,
    and comes up then; the report says which, so the operator knows why it did not yet."""
    for spec in roster.agents:
        if spec.phase > phase:
            continue
        agent = Agent.objects.get(slug=spec.slug)
        try:
            if set_agent_enabled(agent, True, actor=actor):
                report.agents_enabled.append(spec.slug)
        except AgentSwitchHeld as held:
            held.override.restores_enabled()
            report.agents_held.append(f"{spec.slug} (override {held.override.id})")


def roster_phase(name: str) -> int | None:
    """The phase whose bootstrap brings the order `name`, if the installed roster has it."""
    orders = load_roster(installed_roster()).orders()
    return next((spec["phase"] for spec in orders if spec["name"] == name), None)


def _create_orders(roster: Roster, phase: int, report: BootstrapReport) -> None:
    """Orders of this phase and earlier, for agents that exist (rosters may differ)."""
    agents = set(Agent.objects.values_list("slug", flat=True))
    for spec in roster.orders():
        if spec["phase"] > phase or spec["agent"] not in agents:
            continue
        _, created = StandingOrder.objects.get_or_create(
            agent_id=spec["agent"],
            name=spec["name"],
            defaults={
                "cron": spec["cron"],
                "phase": spec["phase"],
                "handler": spec.get("handler", "generic"),
                "precondition": spec.get("precondition", ""),
                "instructions": spec["instructions"],
            },
        )
        if created:
            report.orders_created.append(spec["name"])
    if report.orders_created:
        from opscore.schedules import sync_order_schedules

        sync_order_schedules()


def _create_rules(roster: Roster, report: BootstrapReport) -> None:
    """The tutorial's trigger rules; proactive ones skip 10-15 % and jitter 25-45 minutes. Only
    for enabled agents: a later phase that enables an agent brings its rules."""
    from missions.models import TriggerRule

    agents = set(Agent.objects.filter(enabled=True).values_list("slug", flat=True))
    for spec in roster.rules():
        if spec["action_config"]["target_agent"] not in agents:
            continue
        defaults = {k: v for k, v in spec.items() if k != "name"}
        if spec.get("proactive"):
            defaults |= {
                "skip_probability": 0.12,
                "jitter_min_minutes": 25,
                "jitter_max_minutes": 45,
            }
        _, created = TriggerRule.objects.get_or_create(name=spec["name"], defaults=defaults)
        if created:
            report.rules_created.append(spec["name"])


def _seed_relationships(roster: Roster, report: BootstrapReport) -> None:
    """Every pair of the roster's agents, at the roster's affinity or the neutral 0.50."""
    from itertools import combinations

    from roundtable.models import Relationship

    given = {tuple(sorted((p.a, p.b))): p for p in roster.relationships}
    for a, b in combinations(sorted(spec.slug for spec in roster.agents), 2):
        spec = given.get((a, b))
        _, created = Relationship.objects.get_or_create(
            agent_a_id=a,
            agent_b_id=b,
            defaults={
                "affinity": spec.affinity if spec else 0.5,
                "backstory": spec.backstory if spec else "",
            },
        )
        report.relationships_seeded += created


def _seed_policies(roster: Roster, report: BootstrapReport, actor: str) -> None:
    existing = set(Policy.objects.values_list("key", flat=True))
    for key in SCHEMAS:
        if key not in existing:
            value = default_value(key)
            if key == "reaction_matrix" and roster.reaction_matrix:
                value = {"patterns": roster.reaction_matrix}
            set_policy(key, value, actor=actor, reason=f"seeded by bootstrap ({roster.name})")
            report.policies_seeded.append(key)
