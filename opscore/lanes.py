"""Lanes and what pausing one stops: one contract for every lane.

Each app declares the parts of a lane it owns (`contribute`): the step kinds its missions run,
the standing-order handlers, the heartbeat duties and the loops (django-q entry points, the
a lane's own driver). A `pause-lane` override then stops all of them at once:

- step kinds: claims skip them (the claim SQL reads `lane_switches.held_kinds`), for Opscore's
  workers and for an outside runtime's `claim-jobs` alike; running leases finish, but a model
  reply that comes back after the pause is held, not applied (missions.step_switches);
- standing orders: a slot that comes due is *held* (queue) or *skipped with the reason* (drop),
  and so is a run whose model reply comes back after the pause took hold (opscore.switch_checks);
- duties and loops: they return `paused` and touch nothing.

A pause has a mode. `queue` (the default): work waits and resumes in order when the pause ends —
queued steps are claimed again, each order's latest held slot runs once (older ones fold into
it), duties and loops catch up from their cursors. `drop`: new work is refused with a recorded
reason (a proposal naming the lane's kinds is rejected, an order's slot is `skipped`, a queued
reaction is `skipped`, what a trigger rule has not seen gets a TriggerSkip and its cursor moves on;
each lane says what else it refuses, in the README); what was queued before the pause waits, as
in `queue`.
"""

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import Field

from opscore.models import Override, Policy
from opscore.policies import PolicyValue
from opscore.policy_names import names_in
from opscore.registry import Registry

QUEUE, DROP = "queue", "drop"
MODES = (QUEUE, DROP)
# another name an operator may type for a lane (an app's label) → the lane; apps register theirs
ALIASES: Registry = Registry("lane alias")


@dataclass
class Lane:
    """Everything of one lane a pause must stop; apps add to it from their ready()."""

    name: str
    step_kinds: set[str] = field(default_factory=set)
    order_handlers: set[str] = field(default_factory=set)
    duties: set[str] = field(default_factory=set)
    loops: dict = field(default_factory=dict)  # name → () -> dict ({"paused": lane} when paused)

    def stops(self) -> dict:
        """What `override pause-lane … --preview` and the docs show this lane's pause stops."""
        return {
            "step_kinds": sorted(self.step_kinds),
            "standing_orders": sorted(self.order_handlers),
            "duties": sorted(self.duties),
            "loops": sorted(self.loops),
        }


LANE_PARTS: dict[str, Lane] = {}
# The lanes on by default in a fresh install's lane_switches (the others are on by absence).
SWITCHED_ON: Registry = Registry("lane switched on")


def lane_names() -> list[str]:
    """Every lane a pause can stop, in the order the apps declared them."""
    return list(LANE_PARTS)


def contribute(lane: str, *, kinds=(), handlers=(), duties=(), loops=None, on=False) -> Lane:
    """`on`: the lane is named (running) in a fresh install's lane_switches."""
    if on:
        SWITCHED_ON.register(lane, True)
    declared = LANE_PARTS.setdefault(lane, Lane(lane))
    declared.step_kinds.update(kinds)
    declared.order_handlers.update(handlers)
    declared.duties.update(duties)
    declared.loops.update(loops or {})
    return declared


def lane_of_kind(kind: str) -> str:
    return next((n for n, lane in LANE_PARTS.items() if kind in lane.step_kinds), "")


def lane_of_handler(handler: str) -> str:
    return next((n for n, lane in LANE_PARTS.items() if handler in lane.order_handlers), "")


class LaneSwitches(PolicyValue):
    """Written by pause-lane overrides: a paused lane's work is skipped, and says so.
    `drop` names the lanes paused in drop mode; `held_kinds` the step kinds of every paused lane,
    which the claim SQL reads (below)."""

    lanes: names_in("lanes", lane_names, dict[str, bool]) = Field(
        default_factory=lambda: dict(SWITCHED_ON)
    )
    drop: list[str] = Field(default_factory=list)
    held_kinds: list[str] = Field(default_factory=list)

    def is_running(self, lane: str) -> bool:
        return self.lanes.get(lane, True)


@dataclass(frozen=True)
class Pause:
    lane: str
    mode: str
    override_id: int | None
    reason: str
    # When it took hold: its override's creation (in force from then, in the same transaction
    # as the switch); switched off without one, the switches' last change, no earlier.
    since: datetime | None = None

    @property
    def why(self) -> str:
        by = f"override {self.override_id}" if self.override_id else "lane_switches"
        return f"lane {self.lane} paused ({self.mode}) by {by}: {self.reason}"


def pause_of(lane: str) -> Pause | None:
    """The pause in force on `lane`, or None while it runs."""
    if not lane:
        return None
    switches = Policy.objects.value("lane_switches")
    if switches.is_running(lane):
        return None
    row = (
        Override.objects.in_force()
        .filter(kind="pause_lane", target__in=[lane, f"{lane}:{QUEUE}", f"{lane}:{DROP}"])
        .first()
    )
    mode = DROP if lane in switches.drop else QUEUE
    if row is None:
        changed = Policy.objects.filter(key="lane_switches").values_list("updated_at", flat=True)
        return Pause(lane, mode, None, "switched off", changed.first())
    return Pause(lane, mode, row.id, row.reason, row.created_at)


def lane_paused(lane: str) -> bool:
    return not Policy.objects.value("lane_switches").is_running(lane)


def paused_loop(lane: str) -> dict | None:
    """A loop's first line: `if (paused := paused_loop("x")): return paused`."""
    return {"paused": lane} if lane_paused(lane) else None


def held_kinds(lanes: dict[str, bool]) -> list[str]:
    """The step kinds no claim may take while these lanes are paused."""
    paused = [LANE_PARTS[n] for n, on in lanes.items() if not on and n in LANE_PARTS]
    return sorted({kind for lane in paused for kind in lane.step_kinds})


def drop_refusal(kinds: list[str]) -> str | None:
    """The intake's answer for new work of a lane paused in `drop` mode."""
    for kind in sorted(set(kinds)):
        pause = pause_of(lane_of_kind(kind))
        if pause is not None and pause.mode == DROP:
            return f"{kind}: {pause.why}"
    return None
