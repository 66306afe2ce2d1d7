"""What a person types on the Stage is refused past its limit, never cut: the decision cards'
reason (500, as every reason: tests/console/test_refusal_reasons.py), a notice's dismiss
reason (500 too), and the feed's filters (matched whole, as typed)."""

import pytest

from missions.models import Proposal
from opportunities.models import Notice
from opportunities.notices import notify
from opscore.actions import record_event
from tests.factories import AgentFactory, propose

pytestmark = pytest.mark.django_db


def test_a_rejection_reason_of_500_characters_is_kept_whole(admin_client, agent):
    proposal = propose(agent, "deploy", title="Ship it")
    card = {"decision": "reject", "reason": "r" * 500}

    admin_client.post(f"/stage/approvals/{proposal.id}", card)

    assert Proposal.objects.get(pk=proposal.pk).reason == "r" * 500


def test_a_dismiss_reason_past_500_characters_is_refused_and_the_notice_stays(admin_client):
    notice = notify("alert", "Disk fills", "in 2 hours", dedupe_key="disk")

    answer = admin_client.post(f"/stage/inbox/{notice.id}/dismiss", {"reason": "r" * 501})

    page = answer.content.decode()
    assert "Not dismissed: a reason is at most 500 characters (501 given)" in page
    assert "Disk fills" in page
    assert Notice.objects.get(pk=notice.pk).dismissed_at is None


def test_a_dismiss_reason_of_500_characters_is_kept_whole(admin_client):
    """Its column held 300: a reason kept on a rejection was refused on a dismissal."""
    notice = notify("alert", "Disk fills", "in 2 hours", dedupe_key="disk")

    admin_client.post(f"/stage/inbox/{notice.id}/dismiss", {"reason": "r" * 500})

    assert Notice.objects.get(pk=notice.pk).dismiss_reason == "r" * 500


@pytest.mark.parametrize(
    "event, query",
    [
        ({"kind": "k" * 100}, {"kind": "k" * 101}),
        ({"kind": "seen", "tags": ["t" * 64]}, {"tag": "t" * 65}),
        ({"kind": "seen", "agent_id": "a" * 64}, {"agent": "a" * 65}),
    ],
    ids=["kind", "tag", "agent"],
)
def test_a_feed_filter_longer_than_anything_it_could_match_matches_nothing(
    admin_client, event, query
):
    """Cut to 100 characters (and a tag to its column's 64 by PostgreSQL's cast), a filter
    showed the events of the shorter name it was cut to."""
    AgentFactory(slug="a" * 64)
    record_event(event.pop("kind"), "the shorter name's event", **event)

    page = admin_client.get("/stage/", query).content.decode()

    assert "the shorter name" not in page
