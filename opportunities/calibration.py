"""Calibration: per scout, what its opportunity scores predicted against what happened —
accepted, converted, the mission succeeded, the measured effect (engagement of what it
published) — and the scout's weight in triage that follows from it.

A score (4.5..23.5, see Opportunity.score) reads as a predicted chance of acceptance on a 0..1
scale. A scout whose items are accepted more often than its scores predict gains weight, one
whose high scores keep being turned down loses it: weight = observed / predicted, both over the
decided items (one nobody has looked at yet was neither taken nor turned down), bounded to
WEIGHT_FLOOR..WEIGHT_CEILING and moved at most MAX_STEP per adjustment, only with MIN_DECIDED
decided items behind it. Every change is a ScoutWeight row with its evidence.
"""

from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.db.models import Avg

from missions.models import ContentMetric, MissionStatus
from opportunities.models import (
    WEIGHT_CEILING,
    WEIGHT_FLOOR,
    Opportunity,
    ScoutWeight,
)
from opscore.db import db_now
from opscore.models import Agent

LOWEST, HIGHEST = 4.5, 23.5
BANDS = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.01)]
OPEN = {"new", "triaged"}
MIN_DECIDED = 5
MAX_STEP = 0.25
WINDOW = timedelta(days=90)
COLUMNS = ["n", "decided", "predicted", "acceptance_rate", "converted", "succeeded", "measured"]
COLUMNS += ["mean_effect"]


def predicted(opportunity: Opportunity) -> float:
    return (opportunity.score - LOWEST) / (HIGHEST - LOWEST)


def band_of(chance: float) -> str:
    low, high = next(b for b in BANDS if b[0] <= chance < b[1])
    return f"{low:.2f}-{min(high, 1.0):.2f}"


def effect_of(opportunity: Opportunity) -> float | None:
    """The mean engagement rate measured for what its mission published, if any was."""
    if opportunity.proposal_id is None:
        return None
    metrics = ContentMetric.objects.filter(
        publication__step__mission__proposal_id=opportunity.proposal_id
    )
    return metrics.aggregate(rate=Avg("engagement_rate"))["rate"]


def outcome(opportunity: Opportunity) -> dict:
    mission = getattr(opportunity.proposal, "mission", None) if opportunity.proposal else None
    return {
        "decided": opportunity.status not in OPEN,
        "accepted": opportunity.status in ("accepted", "converted"),
        "converted": opportunity.status == "converted",
        "succeeded": bool(mission and mission.status == MissionStatus.SUCCEEDED),
        "effect": effect_of(opportunity),
    }


def empty_band() -> dict:
    counts = {"n": 0, "decided": 0, "accepted": 0, "converted": 0, "succeeded": 0}
    return counts | {"predicted": 0.0, "predicted_decided": 0.0}


def add(row: dict, chance: float, seen: dict) -> None:
    row["n"] += 1
    row["predicted"] += chance
    if not seen["decided"]:
        return
    row["decided"] += 1
    row["predicted_decided"] += chance
    row["accepted"] += seen["accepted"]
    row["converted"] += seen["converted"]
    row["succeeded"] += seen["succeeded"]
    if seen["effect"] is not None:
        row.setdefault("effects", []).append(seen["effect"])


def finish(row: dict) -> dict:
    n, decided = row["n"], row["decided"]
    effects = row.pop("effects", [])
    return row | {
        "predicted": round(row["predicted"] / n, 3) if n else None,
        # what was predicted for the items acceptance is measured on: the weight compares these
        "predicted_decided": round(row["predicted_decided"] / decided, 3) if decided else None,
        "acceptance_rate": round(row["accepted"] / decided, 3) if decided else None,
        "measured": len(effects),
        "mean_effect": round(sum(effects) / len(effects), 4) if effects else None,
    }


def calibration_table(since=None, scout: str | None = None) -> dict[str, dict]:
    """{scout: {"bands": {band: row}, "overall": row}} over the window's opportunities."""
    since = since or db_now() - WINDOW
    found = Opportunity.objects.filter(created_at__gte=since).select_related("proposal__mission")
    if scout:
        found = found.filter(source_agent_id=scout)
    table: dict[str, dict] = defaultdict(lambda: {"bands": defaultdict(empty_band)})
    for opportunity in found.order_by("id").iterator(chunk_size=500):
        chance, seen = predicted(opportunity), outcome(opportunity)
        entry = table[opportunity.source_agent_id]
        add(entry["bands"][band_of(chance)], chance, seen)
        add(entry.setdefault("overall", empty_band()), chance, seen)
    return {
        slug: {
            "bands": {band: finish(row) for band, row in sorted(entry["bands"].items())},
            "overall": finish(entry["overall"]),
        }
        for slug, entry in sorted(table.items())
    }


def proposed_weight(overall: dict, previous: float) -> tuple[float, str]:
    """The bounded adjustment and why; `previous` when there is too little to go on."""
    if overall["decided"] < MIN_DECIDED:
        return previous, f"{overall['decided']} decided, fewer than {MIN_DECIDED}: kept"
    observed, expected = overall["acceptance_rate"], overall["predicted_decided"]
    if expected <= 0 and observed <= 0:  # none predicted, none came: nothing to scale by
        return previous, f"accepted none of {overall['decided']} decided, as predicted: kept"
    target = WEIGHT_CEILING if expected <= 0 else observed / expected
    target = min(max(target, WEIGHT_FLOOR), WEIGHT_CEILING)
    step = min(max(target - previous, -MAX_STEP), MAX_STEP)
    weight = round(previous + step, 2)
    why = f"accepted {observed:.0%} of {overall['decided']} decided vs {expected:.0%} predicted"
    return weight, f"{why}: weight {previous} → {weight}"


@transaction.atomic
def recalibrate_scouts(*, actor: str, since=None) -> list[ScoutWeight]:
    """Record a new weight for each scout whose calibration moves it; the rest keep theirs."""
    current = ScoutWeight.objects.current()
    known = set(Agent.objects.values_list("slug", flat=True))
    written = []
    for slug, entry in calibration_table(since).items():
        previous = current.get(slug, 1.0)
        weight, reason = proposed_weight(entry["overall"], previous)
        if weight != previous and slug in known:
            written.append(
                ScoutWeight.objects.create(
                    scout_id=slug,
                    weight=weight,
                    previous=previous,
                    reason=reason[:300],
                    evidence=entry["overall"],
                    decided_by=actor,
                )
            )
    return written


def weighted_score(opportunity: Opportunity, weights: dict[str, float]) -> float:
    """The score triage ranks by: the scout's score times the scout's calibrated weight."""
    return round(opportunity.score * weights.get(opportunity.source_agent_id, 1.0), 2)
