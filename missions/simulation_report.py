"""What the policy simulator tells an operator: for the edited value, which recorded proposals
would have been decided differently (counts and the first N of each change, each linking to the
real row), which trigger- and reaction-made work with them, which steps that ran would not have,
and the spend that goes with it. `simulate_policy` is the one entry point (CLI, admin)."""

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import OperationalError, transaction
from django.db.models import Count, Sum
from psycopg.errors import QueryCanceled

from missions.models import Step
from missions.simulation import (
    ACCEPTED,
    AUTO,
    SIMULATED_KEYS,
    SimulationStopped,
    Verdict,
    Window,
    admin_url,
    check_value,
    read_only,
    recorded_outcome,
    replay,
)
from missions.simulation_loop import replay_reactions
from opscore.models import LLMCall

RAN = {AUTO, ACCEPTED}
DEADLINE = 60.0
ID_CHUNK = 1000


@dataclass
class Findings:
    """Counters and the first `examples` of each change; ids only for what must be looked up."""

    examples: int
    replayed: int = 0
    transitions: dict = field(default_factory=dict)
    triggers: dict = field(default_factory=dict)
    lost: list = field(default_factory=list)  # ran, would not have
    gained: Counter = field(default_factory=Counter)  # would have run: kind → steps

    def add(self, verdict: Verdict) -> None:
        self.replayed += 1
        row, before = verdict.row, recorded_outcome(verdict.row)
        if before == verdict.outcome:
            return
        change = self._example(verdict, before)
        self._tally(self.transitions, f"{before} → {verdict.outcome}", change)
        if row["source"] in ("trigger", "reaction"):
            self._tally(self.triggers, row["cause_ref"] or row["source"], change)
        if before in RAN and verdict.outcome not in RAN:
            self.lost.append(row["id"])
        if verdict.outcome in RAN and before not in RAN:
            self.gained.update(s["kind"] for s in row["proposed_steps"])

    def _tally(self, table: dict, name: str, change: dict) -> None:
        entry = table.setdefault(name, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < self.examples:
            entry["examples"].append(change)

    @staticmethod
    def _example(verdict: Verdict, before: str) -> dict:
        row = verdict.row
        return {
            "proposal": row["id"],
            "title": row["title"],
            "agent": row["agent_id"],
            "source": row["source"],
            "created_at": row["created_at"].isoformat(),
            "recorded": before,
            "simulated": verdict.outcome,
            "reason": verdict.reason,
            "url": admin_url("missions_proposal", row["id"]),
        }


def chunks(ids: list[int]):
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def steps_switched_off(found: Findings) -> dict:
    """The real steps of proposals that ran but would not have under the edited value."""
    count, examples, spent = 0, [], Decimal(0)
    for ids in chunks(found.lost):
        steps = Step.objects.filter(mission__proposal_id__in=ids)
        count += steps.count()
        spent += LLMCall.objects.filter(step__in=steps).spend()
        for step in steps.order_by("id")[: found.examples - len(examples)]:
            examples.append(
                {"step": step.id, "kind": step.kind, "status": step.status}
                | {"mission": step.mission_id, "url": admin_url("missions_step", step.id)}
            )
    return {"count": count, "examples": examples, "spent_usd": spent}


def cost_per_step(window: Window) -> dict[str, Decimal]:
    """What a step of each kind cost on average in the window: the estimate for new work."""
    rows = (
        LLMCall.objects.filter(step__created_at__gte=window.start)
        .values("step__kind")
        .annotate(total=Sum("cost_usd"), steps=Count("step", distinct=True))
        .order_by()
    )
    return {r["step__kind"]: r["total"] / r["steps"] for r in rows if r["steps"]}


def spend(found: Findings, off: dict, window: Window) -> dict:
    per_step = cost_per_step(window) if found.gained else {}
    added = sum((per_step.get(k, Decimal(0)) * n for k, n in found.gained.items()), Decimal(0))
    avoided = off.pop("spent_usd")
    return {
        "avoided_usd": float(round(avoided, 6)),
        "added_estimate_usd": float(round(added, 6)),
        "difference_usd": float(round(added - avoided, 6)),
    }


def simulate_policy(key: str, value, *, since=timedelta(days=7), examples=10, **limits) -> dict:
    """The report for one edited value over the window. Refuses (SimulationRefused) what a save
    would refuse; writes nothing (`read_only`). `limits`: deadline_seconds, cancel."""
    seconds = max(limits.get("deadline_seconds", DEADLINE), 0.0)
    return read_only(lambda: _simulate(key, value, since, examples, **limits), seconds)


def _simulate(key, value, since, examples, deadline_seconds=DEADLINE, cancel=None) -> dict:
    edited = check_value(key, value)
    window, began = Window.since(since), time.monotonic()
    found, stopped, reactions = Findings(examples), "", {}
    deadline = began + deadline_seconds
    try:
        with transaction.atomic():  # a query cancelled by the timeout undoes only this
            replay(window, key, edited, sink=found.add, deadline=deadline, cancel=cancel)
            if key == "reaction_matrix":
                reactions = replay_reactions(window, edited, examples=examples, deadline=deadline)
    except SimulationStopped as stop:
        stopped = str(stop)
    except OperationalError as error:
        if not isinstance(error.__cause__, QueryCanceled):
            raise
        stopped = "a query ran past the deadline"
    off = steps_switched_off(found)
    return {
        "key": key,
        "value": edited.model_dump(mode="json"),
        "window": {"from": window.start.isoformat(), "to": window.end.isoformat()},
        "simulated": key in SIMULATED_KEYS or key == "reaction_matrix",
        "complete": not stopped,
        "stopped": stopped,
        "proposals": {
            "replayed": found.replayed,
            "changed": sum(t["count"] for t in found.transitions.values()),
            "transitions": found.transitions,
        },
        "triggers": found.triggers,
        "reactions": reactions,
        "steps_switched_off": off,
        "spend": spend(found, off, window),
        "elapsed_seconds": round(time.monotonic() - began, 3),
    }
