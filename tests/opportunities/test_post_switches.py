"""A post already in the outbox obeys the switches over the step that queued it: a disabled
agent's or a paused mission's post waits (no attempt used) and goes out once when the switch is
lifted; a cancelled mission's post never goes out, and says why. The step had run and queued
the post; these switches were thrown after, while it waited (a paused lane, a backoff)."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.mission_control import pause_mission, resume_mission
from missions.models import OutboxMessage, Publication, Step
from missions.outbox import deliver_pending
from missions.step_actions import cancel_mission
from missions.worker import handle_one_step
from opportunities.publishing import approve_channel
from opscore.models import Event
from opscore.overrides import apply_override, lift_override
from tests.channel_fakes import mastodon_instance, mastodon_status
from tests.factories import make_step

pytestmark = pytest.mark.django_db
START = datetime(2026, 6, 1, 12, tzinfo=UTC)
ANN = "operator:ann"


@pytest.fixture
def queued_post(network, mastodon_account, clock):
    """A post the step has queued for Mastodon, its mission still open (a later step)."""
    clock.freeze(START)
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", mastodon_status())
    approve_channel("mastodon", actor=ANN)
    step = make_step("post_tweet", payload={"text": "We shipped!", "channel": "mastodon"})
    Step.objects.create(
        mission=step.mission,
        agent=step.agent,
        kind="noop",
        status="blocked",
        blocked_reason="waits on a person",
        blocked_code="words",
    )
    handle_one_step("w1")
    assert OutboxMessage.objects.get().status == "pending"
    return step


def deliver_for(clock, minutes: int) -> None:
    for minute in range(0, minutes, 2):
        clock.freeze(START + timedelta(minutes=minute))
        deliver_pending()


def posted(network) -> int:
    return len(network.sent("POST", "/api/v1/statuses"))


def test_a_post_queued_before_its_agent_was_disabled_waits_until_it_is_enabled(
    queued_post, network, clock
):
    switch = apply_override("disable_agent", "devops", reason="misbehaving", actor=ANN)

    deliver_for(clock, 20)

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts, posted(network)) == ("pending", 0, 0)
    assert message.last_error == f"held: devops is disabled (override {switch.id}: misbehaving)"
    lift_override(switch.id, actor=ANN, reason="fixed")
    clock.freeze(START + timedelta(minutes=30))
    deliver_pending()
    assert Publication.objects.get().status == "published" and posted(network) == 1


def test_a_post_queued_before_its_mission_was_paused_waits_until_it_is_resumed(
    queued_post, network, clock
):
    pause_mission(queued_post.mission_id, actor=ANN, reason="checking the wording")

    deliver_for(clock, 20)

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts, posted(network)) == ("pending", 0, 0)
    mission = queued_post.mission_id
    assert message.last_error == f"held: mission M{mission} is paused: checking the wording"
    resume_mission(queued_post.mission_id, actor=ANN, reason="fine")
    clock.freeze(START + timedelta(minutes=30))
    deliver_pending()
    assert Publication.objects.get().status == "published" and posted(network) == 1


def test_a_post_whose_mission_was_cancelled_never_goes_out(queued_post, network, clock):
    cancel_mission(queued_post.mission, actor=ANN)

    deliver_for(clock, 20)

    publication = Publication.objects.get()
    assert (publication.status, posted(network)) == ("refused", 0)
    assert publication.reason == f"its mission M{queued_post.mission_id} was cancelled"
    assert Event.objects.get(kind="tweet.refused").summary == publication.reason
    assert not Event.objects.filter(kind="tweet.posted").exists()
