"""Overrides: one way for an operator to stop, drain, freeze or force something — with a
preview before, a reason and an event on every change, and an expiry that lifts itself.

Each app registers the kinds it owns (`OVERRIDE_KINDS`) from its AppConfig.ready(); the admin,
`.venv/bin/opscore override` and `POST /api/ops/overrides` all call the functions here. The switches
that existed before (lane_switches, worker_switches, memory_policy.frozen, Agent.enabled) are
now the *effect* of these rows: they are written only by applying or lifting an override, and
the policy editors refuse to change them directly.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction

from opscore.actions import record_cap_hit, record_event, set_policy
from opscore.db import db_now
from opscore.lanes import ALIASES, DROP, LANE_PARTS, MODES, QUEUE, Lane, held_kinds, lane_names
from opscore.models import Override, OverrideStatus, Policy
from opscore.policies import parse_policy
from opscore.policy_names import known_part
from opscore.registry import Registry
from opscore.standing_orders import release_held_runs
from opscore.text import MAX_REASON, ReasonRefused, checked_reason

OVERRIDE_KINDS: Registry = Registry("override kind")
LANE_IN_FLIGHT: Registry = Registry("lane in-flight report")  # lane → () -> dict
# app → (override) -> None: what an app held by a switch goes on once its override is lifted
# (or expires), in the lift's transaction — e.g. a lane's work held by the switch mid-way
RELEASED_ON_LIFT: Registry = Registry("release on an override's lift")
EXPIRY = re.compile(r"^(?P<n>[1-9][0-9]*)(?P<unit>[smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_EXPIRY = timedelta(days=30)
MAX_SECONDS = MAX_EXPIRY.total_seconds()
SYSTEM = "system:override-expiry"


class OverrideRefused(ValueError):
    """An override that cannot be applied or lifted as asked; the message says why."""


@dataclass(frozen=True)
class OverrideKind:
    """`standing` kinds stay in force until lifted or expired; the others act once.
    `check` normalises a target or raises OverrideRefused; `preview` reports what is in flight
    and what the override would stop; `left` (standing kinds) what remains while in force.
    `targets` lists (value, label) pairs the admin offers; None means a free id is typed."""

    name: str
    description: str
    standing: bool
    check: Callable[[str], str]
    preview: Callable[[str], dict]
    apply: Callable[[Override], dict]
    lift: Callable[[Override], None] | None = None
    left: Callable[[str], dict] | None = None
    targets: Callable[[], list[tuple[str, str]]] | None = None

    @property
    def verb(self) -> str:
        return self.name.replace("_", "-")


def kind_named(name: str) -> OverrideKind:
    kind = OVERRIDE_KINDS.get(name.replace("-", "_"))
    if kind is None:
        known = ", ".join(k.replace("_", "-") for k in OVERRIDE_KINDS.names())
        raise OverrideRefused(f"unknown override {name!r}; known: {known}")
    return kind


def parse_expiry(text: str | None) -> timedelta | None:
    """`90s`, `5m`, `2h`, `7d` — at most 30 days; empty means until lifted."""
    if not text:
        return None
    match = EXPIRY.match(text.strip())
    said = repr(text) if len(text) <= 40 else repr(text[:40] + "…")
    if match is None:
        raise OverrideRefused(f"expires {said}: use a number and s, m, h or d, e.g. 2h")
    # `99999999d` is a number and a unit: too long, not misspelt (and past int()'s digits)
    if len(match["n"]) > 7 or int(match["n"]) * UNIT_SECONDS[match["unit"]] > MAX_SECONDS:
        raise OverrideRefused(f"expires {said}: at most 30 days")
    return timedelta(seconds=int(match["n"]) * UNIT_SECONDS[match["unit"]])


def check_expiry(kind: OverrideKind, expires: str | None) -> timedelta | None:
    span = parse_expiry(expires)
    if span and not kind.standing:
        raise OverrideRefused(f"{kind.verb} acts once; it cannot expire")
    return span


def preview_override(name: str, target: str, expires: str | None = None) -> dict:
    """What applying would do, refused as applying would refuse: a preview that accepted an
    expiry the override then refused would promise what never happens."""
    kind = kind_named(name)
    target = kind.check(str(target).strip())
    check_expiry(kind, expires)
    in_force = Override.objects.in_force().filter(kind=kind.name, target=target).first()
    return {
        "kind": kind.name,
        "target": target,
        "does": kind.description,
        "standing": kind.standing,
        "already_in_force": in_force.id if in_force else None,
        "in_flight": kind.preview(target),
    }


def override_reason(reason, *, needed_by: str = "an override") -> str:
    """The reason kept, or why not (opscore.text.checked_reason): every surface applies and
    lifts through here, so none of them keeps hidden characters, an empty reason, or one cut
    to its column."""
    try:
        return checked_reason(reason, needed_by=needed_by)
    except ReasonRefused as refused:
        raise OverrideRefused(str(refused)) from None


def apply_override(name: str, target: str, *, reason: str, actor: str, expires: str | None = None):
    """Apply one override in one transaction: the row, its effect and its event together."""
    kind, reason = kind_named(name), override_reason(reason)
    span = check_expiry(kind, expires)
    lift_expired_overrides(kind=kind.name)  # not in force, but its switch holds until lifted
    preview = preview_override(kind.name, target)
    if preview["already_in_force"]:
        raise OverrideRefused(f"already in force as override {preview['already_in_force']}")
    try:
        with transaction.atomic():
            row = Override.objects.create(
                kind=kind.name,
                target=preview["target"],
                reason=reason,
                actor=actor,
                status=OverrideStatus.ACTIVE if kind.standing else OverrideStatus.APPLIED,
                preview=preview["in_flight"],
                expires_at=db_now() + span if span else None,
            )
            row.result = kind.apply(row) or {}
            row.save(update_fields=["result"])
            announce(row, "override.applied", f"{actor}: {kind.description} {row.target}")
    except IntegrityError:
        raise OverrideRefused(f"{kind.verb} {target} is already in force") from None
    return row


def lift_override(override_id: int, *, actor: str, reason: str, expired: bool = False):
    reason = override_reason(reason, needed_by="lifting an override")
    with transaction.atomic():
        row = Override.objects.select_for_update().filter(pk=override_id).first()
        if row is None:
            raise OverrideRefused(f"no override {override_id}")
        if row.status != OverrideStatus.ACTIVE:
            raise OverrideRefused(f"override {override_id} is {row.status}, not in force")
        kind = kind_named(row.kind)
        if kind.lift is not None:
            kind.lift(row)
        status = OverrideStatus.EXPIRED if expired else OverrideStatus.LIFTED
        row.lift(status=status, by=actor, reason=reason)
        for release in RELEASED_ON_LIFT.values():
            release(row)
        topic = "override.expired" if expired else "override.lifted"
        words = "expired and lifted itself" if expired else f"lifted by {actor}"
        announce(row, topic, f"{kind.description} {row.target} {words}")
    return row


def lift_expired_overrides(
    deadline: float = 0, *, kind: str | None = None, limit: int = 100
) -> dict:
    """The heartbeat duty: every override past its expiry lifts itself, and says so. Applying
    one of `kind` first lifts those of its kind: past expiry an override is in force on no list,
    yet its switch holds until lifted, and a late lift would undo what the new one holds. At
    most `limit` a pass; past it, `deferred` counts what still holds and a row says so."""
    due = Override.objects.due_to_expire()
    due = due.filter(kind=kind) if kind else due
    batch = list(due.order_by("expires_at", "id")[: limit + 1])
    lifted = []
    for row in batch[:limit]:
        when = f"{row.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        try:
            lift_override(row.id, actor=SYSTEM, reason=f"expired at {when}", expired=True)
        except OverrideRefused:  # lifted since it was read (a person, the sweeper, an apply)
            continue
        lifted.append(row.id)
    if len(batch) <= limit:
        return {"lifted": lifted}
    deferred = due.count()
    record_cap_hit("lift_expired_overrides", limit, deferred, actor=SYSTEM)
    return {"lifted": lifted, "deferred": deferred}


def announce(row: Override, topic: str, title: str) -> None:
    record_event(
        topic,
        title,
        summary=row.reason if topic == "override.applied" else row.lift_reason,
        tags=["override", row.kind, "alert" if topic == "override.applied" else "lifted"],
        payload=row.as_json(),
        actor=row.lifted_by or row.actor,
    )


def in_force(name: str, target: str) -> Override | None:
    return Override.objects.in_force().filter(kind=name, target=target).first()


def in_force_by_target(name: str) -> dict[str, Override]:
    """Every override of one kind in force, by target: a pass over many targets reads once."""
    return {row.target: row for row in Override.objects.in_force().filter(kind=name).order_by("id")}


def active_overrides() -> list[dict]:
    """What the status, the Stage and `override list` show: each in force, with what is left."""
    rows = []
    for row in Override.objects.in_force().order_by("created_at"):
        kind = OVERRIDE_KINDS.get(row.kind)
        left = kind.left(row.target) if kind and kind.left else None
        rows.append(row.as_json() | ({"left": left} if left is not None else {}))
    return rows


# --- the switches these rows drive -------------------------------------------------------------

# policy key → the fields only overrides change (None: every field); each app registers its own.
OWNED: Registry = Registry("policy field owned by overrides")


def refuse_owned_change(key: str, new_value: dict) -> None:
    """Policy editors may not change what overrides own; they are told where to go instead."""
    if key not in OWNED:
        return
    current = Policy.objects.value(key)
    # Names no loaded code knows switch nothing: an editor may drop them (not add them).
    before, after = known_part(current), known_part(parse_policy(key, new_value))
    fields = OWNED[key] or sorted(set(before) | set(after))
    changed = [f for f in fields if before.get(f) != after.get(f, before.get(f))]
    if changed:
        raise OverrideRefused(
            f"{key}: {', '.join(changed)} change only through overrides "
            "(admin → Overrides, `.venv/bin/opscore override …`, POST /api/ops/overrides)"
        )


def write_switch(key: str, row: Override, change: Callable[[dict], dict], why: str) -> None:
    current = Policy.objects.value(key).model_dump()
    reason = switch_note(why, row.reason)
    set_policy(key, change(current), actor=f"override:{row.id}", reason=reason)


def switch_note(why: str, reason: str) -> str:
    """The policy version's note holds the person's reason whole (cut to the column, it lost its
    end): "lane paused: <reason>" when the column (500, as the override's) has room for both,
    else the reason alone, the version's actor (override:N) naming what changed it."""
    note = f"{why}: {reason}"
    return note if len(note) <= MAX_REASON else reason


def split_lane(target: str) -> tuple[str, str]:
    """`lane` (queue, the default) or `lane:drop`; an alias (ALIASES) names its lane."""

    lane, _, mode = target.partition(":")
    return ALIASES.get(lane, lane), mode or QUEUE


def check_lane(target: str) -> str:

    lane, mode = split_lane(target)
    if lane not in lane_names():
        raise OverrideRefused(f"unknown lane {lane!r}; lanes: {', '.join(lane_names())}")
    if mode not in MODES:
        raise OverrideRefused(f"pause-lane {target!r}: the mode is queue or drop ({lane}:drop)")
    paused = Override.objects.in_force().filter(kind="pause_lane", target__startswith=lane)
    other = next((r for r in paused if split_lane(r.target)[0] == lane), None)
    if other is not None and other.target != (lane if mode == QUEUE else f"{lane}:{mode}"):
        raise OverrideRefused(f"lane {lane} is already paused by override {other.id}")
    return lane if mode == QUEUE else f"{lane}:{mode}"


def set_lane(row: Override, running: bool) -> None:

    lane, mode = split_lane(row.target)

    def change(value):
        lanes = value["lanes"] | {lane: running}
        drop = sorted(
            set(value["drop"]) - {lane} | ({lane} if mode == DROP and not running else set())
        )
        return value | {"lanes": lanes, "drop": drop, "held_kinds": held_kinds(lanes)}

    write_switch("lane_switches", row, change, "lane resumed" if running else "lane paused")


def lane_in_flight(target: str) -> dict:

    lane, mode = split_lane(target)
    report = LANE_IN_FLIGHT.get(lane)
    stops = LANE_PARTS.get(lane, Lane(lane)).stops()
    facts = {"lane": lane, "mode": mode, "lane_running": lane_running(lane), "stops": stops}
    return facts | (report() if report else {})


def lane_targets() -> list[tuple[str, str]]:
    """Each lane twice: queued while paused (the default), or dropped."""
    return [(lane, lane) for lane in lane_names()] + [
        (f"{lane}:{DROP}", f"{lane}, dropping its work") for lane in lane_names()
    ]


def lane_running(lane: str) -> bool:
    return Policy.objects.value("lane_switches").is_running(lane)


def resume_lane(row: Override) -> None:
    """The pause ends: the switch flips back, and what the lane held resumes."""

    set_lane(row, True)
    release_held_runs(split_lane(row.target)[0])


PAUSE_LANE = OverrideKind(
    name="pause_lane",
    description="pause the lane",
    standing=True,
    check=check_lane,
    preview=lane_in_flight,
    apply=lambda row: set_lane(row, False) or {"paused": row.target},
    lift=resume_lane,
    left=lane_in_flight,
    targets=lane_targets,
)
