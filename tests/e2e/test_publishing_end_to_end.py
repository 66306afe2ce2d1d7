"""The whole way round on a real channel's recorded answers: an agent drafts posts, a human
approves them, then the words the model drafted (and the channel's first post), they go out to
Mastodon once each, the engagement poll reads their numbers back an hour later, and outcome
learning turns the one that stood out into a lesson."""

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User

from memory.learning import learn_from_outcomes
from memory.models import MemoryCandidate
from missions.actions import submit_proposal
from missions.decisions import approve_proposal
from missions.models import ContentMetric, Publication, Step, text_digest
from missions.outbox import deliver_pending
from missions.recovery import requeue_cleared_blockers
from missions.words import approve_words
from missions.worker import handle_one_step
from opportunities.publishing import approve_channel, tweet_text
from opscore.llm import LLMReply
from opscore.models import Event, StandingOrder
from tests.channel_fakes import mastodon_instance, mastodon_status
from tests.factories import AgentFactory, run_order_now

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
DRAFTS = ["Release 1 is out", "Release 2 is out", "Our big launch is live", "Release 3 is out"]
LIKES = [5, 6, 40, 5]


class Drafter:
    """The model's side of the draft_tweet steps: one scripted draft per call."""

    name = "scripted"

    def __init__(self):
        self.drafts = itertools.cycle(DRAFTS)

    def model_for(self, tier):
        return "scripted"

    def complete(self, request):
        return LLMReply(next(self.drafts), 10, 5, "scripted", "scripted")


def run_everything():
    while handle_one_step("w1"):
        pass
    deliver_pending()


def test_draft_approval_post_metrics_lesson(network, mastodon_account, monkeypatch, clock):
    clock.freeze(T0)
    drafter = Drafter()
    monkeypatch.setattr("opscore.llm.get_provider", lambda: drafter)
    agent = AgentFactory(slug="devops", max_concurrent_steps=10)
    ids = [f"1037048740863603{n}" for n in range(4)]
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", *(mastodon_status(status_id=i) for i in ids))
    steps = [
        {"kind": "draft_tweet", "payload": {"topic": "release"}},
        {"kind": "post_tweet", "payload": {"channel": "mastodon"}, "depends_on": [0]},
    ]
    for n in range(4):  # draft → a human approves each proposal
        data = {"agent": agent.slug, "title": f"Announce {n}", "steps": steps}
        proposal = submit_proposal(data, source="api").proposal
        assert proposal.status == "pending"  # posting is never auto-approved
        approve_proposal(proposal, actor="operator:ann")
        handle_one_step("w1")  # the draft
        handle_one_step("w1")  # the post: the model's words wait for a person
    held = Step.objects.filter(kind="post_tweet", status="blocked").order_by("id")
    assert {s.blocked_code for s in held} == {"words_approval"} and held.count() == 4
    bea = User.objects.create_user("bea", password="x")
    bea.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    for step in held:  # she reads each draft and approves exactly those words
        approve_words(step.id, user=bea, digest=text_digest(tweet_text(step)))
    run_everything()  # the channel's first post waits for a human
    held = Step.objects.filter(kind="post_tweet", status="blocked")
    assert {s.blocked_code for s in held} == {"channel_approval"} and held.count() == 4
    assert not network.sent("POST", "/api/v1/statuses")

    approve_channel("mastodon", actor="operator:ann")
    requeue_cleared_blockers()
    run_everything()

    posts = Publication.objects.order_by("id")
    assert [(p.body, p.status) for p in posts] == [(d, "published") for d in DRAFTS]
    assert [p.external_id for p in posts] == ids
    assert len(network.sent("POST", "/api/v1/statuses")) == 4
    assert Event.objects.filter(kind="tweet.posted").count() == 4

    for status_id, likes in zip(ids, LIKES, strict=True):
        network.on(
            "GET",
            f"/api/v1/statuses/{status_id}",
            mastodon_status(favourites=likes, status_id=status_id),
        )
    publisher = AgentFactory(slug="publisher")
    order = StandingOrder.objects.create(
        agent=publisher, name="engagement", cron="*/15 * * * *", handler="engagement_poll"
    )
    clock.freeze(T0 + timedelta(hours=1))
    run = run_order_now(order)

    assert run.evidence == {"measured": 4}
    assert sorted(ContentMetric.objects.values_list("engagements", flat=True)) == [5, 5, 6, 40]

    learn_from_outcomes(time.monotonic() + 3600)

    lesson = MemoryCandidate.objects.get(source_agent="devops", tags__contains=["metric-lesson"])
    launch = Publication.objects.get(body="Our big launch is live")
    assert lesson.dedupe_key == f"engagements-lesson:{launch.id}"
    assert "'Our big launch is live' reached engagements 40" in lesson.body
