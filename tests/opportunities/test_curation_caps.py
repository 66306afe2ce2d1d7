"""The tracker's triage takes at most its cap of new opportunities a run, oldest first; a run cut
short says how many still wait, in its evidence and in a row of its own, and the next run takes
the rest (each one triaged is new no longer). The coordinator's weekly bets review too: past its
cap the rest were neither accepted, rejected nor parked, and nothing said they were there."""

from types import SimpleNamespace

import pytest

from opportunities.curation import opportunity_triage, weekly_bets_review
from opportunities.models import Opportunity
from opscore.models import Event
from tests.factories import make_opportunity

pytestmark = pytest.mark.django_db
TRACKER = SimpleNamespace(agent_id="devops")
COORDINATOR = SimpleNamespace(agent_id="coordinator")  # accepts what others found


def test_a_triage_cut_short_by_its_cap_leaves_a_row_and_the_next_takes_the_rest(agent):
    for n in range(3):
        make_opportunity(agent, title=f"Opening {n}")

    first = opportunity_triage(TRACKER, None, limit=2)

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "opportunity_triage", "limit": 2, "waiting": 1}
    assert first.evidence["deferred"] == 1
    assert opportunity_triage(TRACKER, None, limit=2).summary == "triaged 1"
    assert set(Opportunity.objects.values_list("status", flat=True)) == {"triaged"}
    assert Event.objects.filter(kind="sweep.capped").count() == 1


def test_a_triage_within_its_cap_leaves_no_row(agent):
    make_opportunity(agent)

    assert opportunity_triage(TRACKER, None, limit=2).summary == "triaged 1"
    assert not Event.objects.filter(kind="sweep.capped").exists()


def test_a_bets_review_cut_short_by_its_cap_says_how_many_wait(agent):
    for n in range(3):
        make_opportunity(agent, title=f"Bet {n}")

    first = weekly_bets_review(COORDINATOR, None, limit=2)

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "weekly_bets_review", "limit": 2, "waiting": 1}
    assert first.evidence["deferred"] == 1 and first.summary == "reviewed 2; 1 wait"
    assert weekly_bets_review(COORDINATOR, None, limit=2).summary == "reviewed 1"
    assert not Opportunity.objects.filter(status__in=["new", "triaged"]).exists()
