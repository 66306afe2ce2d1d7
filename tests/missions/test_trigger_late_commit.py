"""A trigger rule's cursor passed an event whose transaction committed after a later event's:
the rule answered the later one, and never the one committed late (a failed mission nobody
diagnosed)."""

import random

import pytest

from missions import loop
from missions.models import Proposal, TriggerRule
from tests.late_commit import held_and_quick, settle
from tests.missions.test_trigger_cost import FAR, rule

pytestmark = pytest.mark.django_db(transaction=True)


def late_failure(quick_began_first: bool):
    """A failed mission held open on another connection, a later one committed meanwhile."""
    return held_and_quick(quick_began_first, "mission.failed", ("mission_failed",))


def commit(other, held_id: int) -> None:
    try:
        other.commit()
    finally:
        other.close()
    settle(held_id)


def answered() -> set[int]:
    return set(Proposal.objects.values_list("cause_event_id", flat=True))


def test_a_failure_committed_after_a_later_one_still_fires_its_rule(agent):
    rule("diagnose", "mission_failed")
    other, held_id, quick = late_failure(quick_began_first=True)
    try:
        first = loop.evaluate_triggers(FAR, random.Random(0))
    finally:
        commit(other, held_id)

    second = loop.evaluate_triggers(FAR, random.Random(0))

    assert (first["fired"], second["fired"]) == (1, 1)
    assert answered() == {quick.id, held_id}
    assert TriggerRule.objects.get().last_seen_event_id == held_id


def test_a_rule_waits_while_an_older_failure_is_still_open(agent):
    rule("diagnose", "mission_failed")
    other, held_id, quick = late_failure(quick_began_first=False)
    try:
        first = loop.evaluate_triggers(FAR, random.Random(0))
        waiting = TriggerRule.objects.get().last_seen_event_id
    finally:
        commit(other, held_id)

    second = loop.evaluate_triggers(FAR, random.Random(0))

    assert (first["fired"], waiting, second["fired"]) == (0, 0, 1)
    assert answered() == {quick.id}
    assert TriggerRule.objects.get().last_seen_event_id == quick.id


def test_a_drop_pause_refuses_a_failure_committed_after_a_later_one_too(agent):
    rule("diagnose", "mission_failed")
    other, held_id, quick = late_failure(quick_began_first=True)
    try:
        first = loop.drop_triggers("quiet hours")
    finally:
        commit(other, held_id)

    second = loop.drop_triggers("quiet hours")

    assert (first["events"], second["events"]) == ([quick.id], [held_id])
    assert TriggerRule.objects.get().last_seen_event_id == held_id
