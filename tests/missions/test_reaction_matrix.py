"""The reaction matrix as an operator edits it: a pattern typed twice is refused when saved,
and a matrix stored with one anyway reacts once per event instead of stopping the lane."""

import random

import pytest

from missions import loop
from missions.models import Reaction
from opscore.actions import record_event, set_policy
from opscore.heartbeat import run_heartbeat
from opscore.models import Policy
from opscore.policies import PolicyError

pytestmark = pytest.mark.django_db
FAILURES = {
    "source": "*",
    "tags": ["mission_failed"],
    "target": "devops",
    "type": "diagnose",
    "probability": 1.0,
    "cooldown": 0,
}


def failure(title: str):
    return record_event("mission.failed", title, tags=["mission_failed"])


def test_a_matrix_naming_one_pattern_twice_is_refused_when_saved(agent):
    with pytest.raises(PolicyError, match="pattern 1 repeats pattern 0"):
        set_policy("reaction_matrix", {"patterns": [FAILURES, FAILURES]}, actor="t")


def test_a_pattern_stored_twice_reacts_once_and_the_lane_keeps_going(agent):
    """Both copies matched an event as one key (reaction_once_per_event): the second INSERT
    failed the duty on every beat, and its cursor never moved past that event."""
    set_policy("reaction_matrix", {"patterns": [FAILURES]}, actor="t")
    Policy.objects.filter(key="reaction_matrix").update(value={"patterns": [FAILURES, FAILURES]})
    first = failure("first")

    beat = run_heartbeat("test")

    duty = next(d for d in beat.duties if d["name"] == "process_reactions")
    assert duty["status"] == "ok", duty.get("error")
    assert Reaction.objects.get(source_event=first).status == "processed"
    second = failure("second")
    loop.match_reactions(random.Random(1))
    assert Reaction.objects.filter(source_event=second).count() == 1
