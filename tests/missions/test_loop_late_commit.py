"""The reaction matcher's cursor passed an event whose transaction committed after a later
event's: no reaction was ever matched for it (a failed mission nobody diagnosed)."""

import random

import pytest

from missions import loop
from missions.models import Reaction
from tests.late_commit import held_and_quick, settle
from tests.missions.test_loop import react_to_failures

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_committed_after_a_later_one_still_gets_its_reaction(agent):
    react_to_failures()
    other, held_id, quick = held_and_quick(True, "mission.failed", ("mission_failed",))
    try:
        loop.match_reactions(random.Random(1))
        other.commit()
    finally:
        other.close()
    settle(held_id)

    loop.match_reactions(random.Random(1))

    matched = Reaction.objects.values_list("source_event_id", flat=True)
    assert sorted(matched) == sorted([held_id, quick.id])
