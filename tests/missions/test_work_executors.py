"""The company's work: LLM steps on the offline provider, publishing once, untrusted content."""

import pytest

from missions.actions import submit_proposal
from missions.models import Artifact, OutboxMessage, Publication, Step
from missions.outbox import deliver_pending
from missions.recovery import requeue_cleared_blockers
from missions.step_actions import retry_step
from missions.worker import handle_one_step
from opportunities.publishing import approve_channel
from opscore.actions import set_policy
from opscore.llm import LLMReply
from opscore.models import Event, LLMCall
from tests.channel_fakes import x_created
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db


class Scripted:
    """A provider that answers with fixed text (a seam at the provider, not our functions)."""

    name = "scripted"

    def __init__(self, text):
        self.text = text

    def model_for(self, tier):
        return "scripted"

    def complete(self, request):
        return LLMReply(self.text, 10, 5, "scripted", "scripted")


@pytest.fixture
def provider(monkeypatch):
    def use(text):
        monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted(text))

    return use


def test_an_analyze_step_runs_on_the_offline_provider_and_keeps_an_artifact():
    step = make_step("analyze", payload={"topic": "disk usage"})

    handle_one_step("w1")

    step.refresh_from_db()
    assert step.status == "succeeded"
    assert step.result["provider"] == "offline" and step.result["text"].startswith("[offline")
    artifact = Artifact.objects.get(step=step)
    assert (artifact.kind, artifact.title, artifact.provenance) == (
        "analyze",
        "disk usage",
        "trusted",
    )
    call = LLMCall.objects.get(step=step)
    assert (call.provider, call.prompt_version, call.outcome) == ("offline", "analyze.v2", "ok")


def test_the_prompt_carries_the_agents_voice(monkeypatch):
    seen = []

    class Recorder(Scripted):
        def complete(self, request):
            seen.append(request)
            return super().complete(request)

    monkeypatch.setattr("opscore.llm.get_provider", lambda: Recorder("fine"))
    step = make_step("write_content", payload={"topic": "launch"})
    step.agent.tone = "dry"
    step.agent.save()

    handle_one_step("w1")

    assert "Your tone: dry." in seen[0].system
    assert "topic: launch" in seen[0].messages[0]["content"]


@pytest.mark.parametrize("reply", ["   ", "x" * 400])
def test_a_malformed_reply_fails_one_step_with_a_reason(provider, reply):
    provider(reply)
    bad = make_step("draft_tweet", priority=900)
    fine = make_step("noop", priority=1)

    handle_one_step("w1")
    handle_one_step("w1")

    bad.refresh_from_db()
    assert bad.status == "failed"
    assert bad.last_error.startswith("malformed LLM reply")
    assert Step.objects.get(pk=fine.pk).status == "succeeded"


def test_over_budget_steps_are_blocked_and_resume_when_the_budget_allows():
    set_policy(
        "llm_budget", {"enabled": True, "per_agent_daily_usd": 0, "total_daily_usd": 0}, actor="t"
    )
    step = make_step("analyze")

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.blocked_code) == ("blocked", "llm_budget")
    assert "budget" in step.blocked_reason
    assert requeue_cleared_blockers() == 0
    set_policy(
        "llm_budget", {"enabled": True, "per_agent_daily_usd": 1, "total_daily_usd": 5}, actor="t"
    )
    assert requeue_cleared_blockers() == 1


def test_a_retried_post_tweet_publishes_once(network, x_account):
    approve_channel("x", actor="operator:ann")
    network.on("POST", "/2/tweets", x_created())
    step = make_step("post_tweet", payload={"text": "We shipped!"})
    handle_one_step("w1")
    # The worker is presumed lost after the effect was recorded; a human retries the step.
    Step.objects.filter(pk=step.pk).update(status="blocked", blocked_reason="worker lost")
    retry_step(step, actor="operator:ann")
    handle_one_step("w2")
    deliver_pending()
    deliver_pending()

    assert OutboxMessage.objects.filter(step=step).count() == 1
    publication = Publication.objects.get()
    assert (publication.body, publication.status) == ("We shipped!", "published")
    assert len(network.sent("POST", "/2/tweets")) == 1
    posted = Event.objects.get(kind="tweet.posted")  # once, for the reaction matrix to hear
    assert (posted.tags, posted.step_id, posted.payload["publication_id"]) == (
        ["tweet", "posted", "x"],
        step.id,
        publication.id,
    )


def test_an_offline_post_is_recorded_as_not_posted_never_posted(settings):
    settings.OPSCORE_LLM = "offline"
    step = make_step("post_tweet", payload={"text": "We shipped!"})
    handle_one_step("w1")
    deliver_pending()

    publication = Publication.objects.get()
    assert (publication.status, publication.published_at) == ("local", None)
    assert publication.get_status_display() == "recorded locally, not published"
    assert not Event.objects.filter(kind="tweet.posted").exists()
    assert not Event.objects.filter(title__startswith="Posted").exists()
    kept = Event.objects.get(kind="tweet.not_posted", step=step)
    assert kept.title == "Recorded locally, not published: We shipped!"
    assert kept.payload["reason"] == "the LLM provider is offline"


def test_the_tweet_quota_is_checked_again_at_run_time(clock):
    clock.midday()  # the first post is today's when the second is checked
    set_policy("x_daily_quota", {"limit": 1}, actor="t")
    first = make_step("post_tweet", payload={"text": "one"})
    handle_one_step("w1")
    deliver_pending()
    second = make_step("post_tweet", payload={"text": "two"})

    handle_one_step("w1")

    second.refresh_from_db()
    assert (second.status, second.blocked_reason) == (
        "blocked",
        "post_tweet: quota full at run time (1/1)",
    )
    assert Step.objects.get(pk=first.pk).status == "succeeded"


def test_the_tweet_quota_is_one_for_all_channels_at_the_intake_and_at_run_time(agent, clock):
    """The intake counted today's posts on every channel, the run-time check only the
    channel's own: at 1/1 the intake said "quota full" while a post to another channel went
    out."""
    clock.midday()  # the first post is today's at both checks
    set_policy("x_daily_quota", {"limit": 1}, actor="t")
    first = make_step("post_tweet", agent=agent, payload={"text": "one", "channel": "mastodon"})
    handle_one_step("w1")
    deliver_pending()
    assert propose(agent, "post_tweet").reason == "post_tweet: quota full (1/1)"
    second = make_step("post_tweet", agent=agent, payload={"text": "two", "channel": "x"})

    handle_one_step("w1")

    second.refresh_from_db()
    assert (second.status, second.blocked_reason) == (
        "blocked",
        "post_tweet: quota full at run time (1/1)",
    )
    assert Publication.objects.get().step_id == first.id


def test_a_proposal_citing_crawled_content_is_never_auto_approved(agent):
    crawl = make_step("noop", agent=agent)
    page = Artifact.objects.create(
        step=crawl, kind="crawl", title="t", body="deploy now!", provenance="untrusted"
    )
    data = {
        "agent": agent.slug,
        "title": "as the page says",
        "steps": [{"kind": "analyze", "payload": {"artifact_id": page.id}}],
    }

    proposal = submit_proposal(data, source="trigger").proposal

    assert proposal.untrusted and proposal.status == "pending"


def test_a_crawl_without_a_url_fails_with_a_reason():
    step = make_step("crawl", payload={})

    handle_one_step("w1")

    step.refresh_from_db()
    assert (step.status, step.last_error) == ("failed", "crawl needs a payload.url string")
