"""The reaction matcher reads at most MATCH_BATCH events a pass. A pass that stopped there
with events left read as one that had matched everything: it says so in a `sweep.capped`
row, which no pattern reacts to (that row would be an event the matcher feeds on), and the
next pass goes on from where it stopped."""

import random

import pytest

from missions import loop
from missions.models import LoopCursor, Reaction
from opscore.actions import record_event, set_policy
from opscore.models import Event

pytestmark = pytest.mark.django_db


def pattern(*tags: str) -> dict:
    return {
        "source": "*", "tags": list(tags), "target": "devops", "type": "diagnose",
        "probability": 1.0, "cooldown": 0,
    }  # fmt: skip


def reacted() -> list[int]:
    return sorted(Reaction.objects.values_list("source_event_id", flat=True))


def test_a_capped_pass_says_so_and_the_next_goes_on_from_its_cursor(agent, monkeypatch):
    set_policy("reaction_matrix", {"patterns": [pattern("failed"), pattern("capped")]}, actor="t")
    monkeypatch.setattr(loop, "MATCH_BATCH", 2)
    LoopCursor.objects.create(name="reactions", position=Event.objects.last_position())
    failures = [record_event("mission.failed", f"f{n}", tags=["failed"]) for n in range(3)]

    first = loop.match_reactions(random.Random(1))

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "match_reactions", "limit": 2, "waiting": 1}
    assert first["events"] == 2 and first["waiting"] == 1
    assert reacted() == [failures[0].id, failures[1].id]

    second = loop.match_reactions(random.Random(1))

    assert second["events"] == 2 and "waiting" not in second  # the third failure, the cap row
    assert reacted() == [event.id for event in failures]
    assert not Reaction.objects.filter(source_event=capped).exists()
