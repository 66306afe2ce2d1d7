"""Posting for real through the outbox: the channel the policy picks, exactly once, a human
for the first post on a channel, each refusal before posting with its reason, and what a
429 or a refused credential does. Every channel answer is recorded (tests.channel_fakes)."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.db.models.functions import Now

from console.order_handlers import posts_line
from missions.models import OutboxMessage, Publication, Step
from missions.outbox import deliver_pending
from missions.recovery import requeue_cleared_blockers
from missions.worker import handle_one_step
from opportunities.models import ChannelAccount
from opportunities.publishing import approve_channel, unblock_channel
from opscore.actions import set_policy
from opscore.models import Event
from opscore.overrides import apply_override, lift_override
from tests.channel_fakes import (
    STATUS_ID,
    TWEET_ID,
    X_ME,
    X_UNAUTHORIZED,
    answer,
    mastodon_instance,
    mastodon_status,
    x_created,
    x_timeline,
)
from tests.factories import make_step

pytestmark = pytest.mark.django_db


def post(text="We shipped!", **payload):
    step = make_step("post_tweet", payload={"text": text, **payload})
    handle_one_step("w1")
    deliver_pending()
    step.refresh_from_db()
    return step


def mastodon_ready(network, limit=500):
    network.on("GET", "/api/v2/instance", mastodon_instance(limit))
    network.on("POST", "/api/v1/statuses", mastodon_status())
    approve_channel("mastodon", actor="operator:ann")


def test_without_credentials_a_post_is_recorded_locally_never_posted(
    settings, client, admin_client
):
    settings.OPSCORE_LLM = "anthropic"

    step = post()

    publication = Publication.objects.get()
    assert (publication.status, publication.published_at) == ("local", None)
    assert publication.reason == "no credentials for X (set OPS_X_ACCESS_TOKEN)"
    assert not Event.objects.filter(kind="tweet.posted").exists()
    kept = Event.objects.get(kind="tweet.not_posted")
    assert kept.title == "Recorded locally, not published: We shipped!"
    stage = client.get(f"/stage/missions/{step.mission_id}").content.decode()
    assert "recorded locally, not published" in stage and "published to" not in stage
    admin = admin_client.get("/admin/missions/publication/").content.decode()
    assert "recorded locally, not published" in admin
    assert posts_line(Now() - timedelta(hours=24)) == "Posts: 1 recorded locally, not published"


def test_the_first_post_on_a_new_channel_waits_for_a_human(network, mastodon_account):
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", mastodon_status())

    step = post(channel="mastodon")

    assert (step.status, step.blocked_code) == ("blocked", "channel_approval")
    assert "first post on Mastodon waits for a human" in step.blocked_reason
    assert step.blocked_reason.endswith(
        ": .venv/bin/opscore channels approve mastodon"
    )  # as pasted
    assert not network.requests and not OutboxMessage.objects.exists()
    approve_channel("mastodon", actor="operator:ann")
    requeue_cleared_blockers()
    handle_one_step("w1")
    deliver_pending()
    publication = Publication.objects.get()
    assert (publication.status, publication.external_id) == ("published", STATUS_ID)
    assert publication.url == f"https://mastodon.example/@opscore/{STATUS_ID}"
    assert Event.objects.get(kind="tweet.posted").payload["url"] == publication.url
    assert post("Second", channel="mastodon").status == "succeeded"  # asked once per channel


def test_the_policy_picks_the_channel_per_agent_and_a_step_may_name_an_allowed_one(
    network,
    mastodon_account,
):
    set_policy("publishing_policy", {"agents": {"devops": "mastodon"}}, actor="t")
    mastodon_ready(network)
    post()
    post("named", channel="x")
    refused = post("nowhere", channel="myspace")

    assert list(OutboxMessage.objects.values_list("channel", flat=True)) == ["mastodon", "x"]
    assert refused.status == "failed"
    assert "'myspace' is not in publishing_policy.allowed_channels" in refused.last_error


def test_a_retry_after_a_lost_answer_finds_the_tweet_instead_of_posting_twice(network, x_account):
    approve_channel("x", actor="operator:ann")
    network.on("POST", "/2/tweets", httpx.ReadTimeout("the answer never came"), x_created())
    post()
    network.on("GET", "/2/users/me", X_ME)
    network.on("GET", "/2/users/2244994945/tweets", x_timeline("We shipped!"))
    OutboxMessage.objects.update(next_attempt_at=Now())

    deliver_pending()

    publication = Publication.objects.get()
    assert publication.status == "published" and publication.external_id == f"{TWEET_ID[:-1]}0"
    assert len(network.sent("POST", "/2/tweets")) == 1


def test_a_429_waits_as_long_as_the_channel_says(network, mastodon_account):
    mastodon_ready(network)
    network.on(
        "POST", "/api/v1/statuses", answer(429, {"error": "Too many requests"}, retry_after="120")
    )

    post(channel="mastodon")

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_attempt_at - message.last_attempt_at == timedelta(seconds=120)
    assert "retry in 120 s" in message.last_error


@pytest.mark.parametrize(
    "said",
    [{"retry_after": "0"}, {"retry_after": "Mon, 01 Jan 2001 00:00:00 GMT"}],
    ids=["zero", "a-time-already-past"],
)
def test_a_429_saying_retry_now_waits_the_outboxs_backoff_not_a_storm(
    network, mastodon_account, said
):
    """'Retry now' (or a reset our clock reads as past) was five attempts in a row, within the
    second, and the post failed for good."""
    mastodon_ready(network)
    network.on("POST", "/api/v1/statuses", answer(429, {"error": "Too many requests"}, **said))

    post(channel="mastodon")

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.next_attempt_at - message.last_attempt_at == timedelta(seconds=30)
    assert message.last_error.endswith("(retry in 30 s)")
    assert len(network.sent("POST", "/api/v1/statuses")) == 1


def test_a_refused_credential_blocks_the_channel_with_one_alert_and_no_retry_storm(
    network, x_account
):
    approve_channel("x", actor="operator:ann")
    network.on("POST", "/2/tweets", X_UNAUTHORIZED)

    post()
    OutboxMessage.objects.update(next_attempt_at=Now())
    deliver_pending()
    later = post("Another")

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("failed", 1)
    assert len(network.sent("POST", "/2/tweets")) == 1
    assert ChannelAccount.objects.get(name="x").blocked_reason.startswith("x answered 401")
    alert = Event.objects.get(kind="channel.blocked")
    assert "alert" in alert.tags and "opscore channels unblock x" in alert.summary
    assert Publication.objects.get().status == "failed"
    assert (later.status, later.blocked_code) == ("blocked", "channel_blocked")
    unblock_channel("x", actor="operator:ann")
    requeue_cleared_blockers()
    assert Step.objects.get(pk=later.pk).status == "queued"


def test_too_long_is_refused_before_anything_is_posted(network, mastodon_account, x_account):
    mastodon_ready(network, limit=20)

    for_x = post("a" * 281, channel="x")
    for_mastodon = post("thirty characters of news here", channel="mastodon")

    assert for_x.status == "failed"
    assert "too long for X: 281 weighted characters" in for_x.last_error
    assert for_mastodon.status == "succeeded"  # the instance's limit is only known at send time
    refused = Publication.objects.get()
    assert refused.status == "refused"
    assert refused.reason == "too long for this Mastodon instance: 30 characters, limit 20"
    assert not network.sent("POST", "/api/v1/statuses")


def test_a_post_with_a_secret_in_it_is_refused_and_the_secret_goes_nowhere(
    network, mastodon_account
):
    mastodon_ready(network)

    step = post("our key is AKIAIOSFODNN7EXAMPLE, enjoy")

    assert step.status == "failed" and "looks like an AWS access key" in step.last_error
    assert "AKIAIOSFODNN7EXAMPLE" not in step.last_error
    assert not OutboxMessage.objects.exists() and not network.requests
    assert not Event.objects.filter(summary__contains="AKIAIOSFODNN7EXAMPLE").exists()
    assert not Event.objects.filter(title__contains="AKIAIOSFODNN7EXAMPLE").exists()


def test_the_kill_switch_stops_one_channel_until_lifted(network, mastodon_account):
    mastodon_ready(network)
    switch = apply_override("stop_channel", "mastodon", reason="bad week", actor="operator:ann")

    held = post(channel="mastodon")
    other = post("elsewhere", channel="x")

    assert (held.status, held.blocked_code) == ("blocked", "channel_stopped")
    assert "stopped by override" in held.blocked_reason and "bad week" in held.blocked_reason
    assert other.status == "succeeded"  # X has no credentials here: recorded locally
    lift_override(switch.id, actor="operator:ann", reason="better now")
    requeue_cleared_blockers()
    handle_one_step("w1")
    deliver_pending()
    assert Publication.objects.get(channel="mastodon").status == "published"


def test_the_channels_command_says_what_each_channel_does_and_never_shows_a_credential(
    mastodon_account,
):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("channels", "list", stdout=out)
    call_command("channels", "approve", "mastodon", "--actor", "operator:ann", stdout=out)

    shown = out.getvalue()
    assert "x: recorded locally, not published (no credentials for X" in shown
    assert "mastodon: configured; the first post waits for a human" in shown
    assert "mastodon: publishing (approved by operator:ann)" in shown
    assert "mastodon-app-token" not in shown


def test_a_half_configured_channel_is_named_at_startup(settings):
    from opportunities.checks import check_channels

    settings.OPS_MASTODON_URL = "http://mastodon.example"

    said = {(w.id, w.msg.split(":")[0]) for w in check_channels(None)}

    assert said == {
        ("opportunities.W001", "mastodon is half configured"),
        ("opportunities.W002", "OPS_MASTODON_URL is not https"),
    }


def test_a_post_queued_before_the_publishing_lane_paused_waits_without_using_attempts(
    network, mastodon_account, clock
):
    """The step ran before the pause; its outbox row must not go out while the lane says
    paused, and a long pause must not use up its delivery attempts."""
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    clock.freeze(start)
    mastodon_ready(network)
    make_step("post_tweet", payload={"text": "We shipped!", "channel": "mastodon"})
    handle_one_step("w1")
    pause = apply_override("pause_lane", "publishing", reason="quiet", actor="operator:ann")

    for minute in range(0, 20, 2):
        clock.freeze(start + timedelta(minutes=minute))
        deliver_pending()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 0)
    assert "lane publishing paused" in message.last_error
    assert not network.sent("POST", "/api/v1/statuses")
    lift_override(pause.id, actor="operator:ann", reason="back")
    clock.freeze(start + timedelta(minutes=30))
    deliver_pending()
    assert Publication.objects.get().status == "published"
    assert len(network.sent("POST", "/api/v1/statuses")) == 1


def test_an_approval_and_a_stop_show_while_posts_are_only_kept_locally(settings):
    """Offline (or with no credentials) every channel reads 'recorded locally': approving one,
    or stopping it by override, must still show, or the operator cannot tell it took."""
    from io import StringIO

    from django.core.management import call_command

    from opscore.overrides import apply_override

    out = StringIO()
    call_command("channels", "approve", "x", "--actor", "operator:ann", stdout=out)
    apply_override("stop-channel", "x", reason="bad week", actor="operator:ann")
    call_command("channels", "list", stdout=out)

    [x_line, *_] = [ln for ln in out.getvalue().splitlines()[-4:] if ln.startswith("x: ")]
    assert x_line.startswith("x: recorded locally, not published (")
    assert "; stopped by override " in x_line and x_line.endswith("; approved by operator:ann")


WAKE = "OPS_AGENT_WAKE_TIMEOUT_SECONDS"


@pytest.mark.parametrize(
    ("name", "seconds", "said"),
    [
        ("OPS_CHANNEL_TIMEOUT", 120, "OPS_CHANNEL_TIMEOUT=120 is not 1 to 59 seconds"),
        ("OPS_CHANNEL_TIMEOUT", 0, "OPS_CHANNEL_TIMEOUT=0 is not 1 to 59 seconds"),
        ("EMAIL_TIMEOUT", 600, "EMAIL_TIMEOUT=600 is not 1 to 299 seconds"),
        (WAKE, 400, f"{WAKE}=400 is not 1 to 299 seconds"),
        (WAKE, 0, f"{WAKE}=0 is not 1 to 299 seconds"),
    ],
)
def test_a_timeout_letting_an_attempt_outlast_its_claim_is_refused_at_startup(
    settings, name, seconds, said
):
    """Past the outbox's 300 s claim a second deliverer takes the row and sends it again; at 0
    every call fails at once (a wake timing out on every retry, nothing saying why)."""
    from opportunities.checks import check_channels

    setattr(settings, name, seconds)

    (error,) = check_channels(None)

    assert (error.id, error.msg.split(":")[0]) == ("opportunities.E001", said)


@pytest.mark.parametrize(
    "made_up",
    ["javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>", "//x"],
)
def test_a_post_link_the_channel_made_up_is_never_a_link_on_the_stage(
    network, mastodon_account, admin_client, made_up
):
    """The post's URL is the channel's word: a Mastodon instance answering a `javascript:` one
    put a script behind the Stage's link to the post."""
    network.on("GET", "/api/v2/instance", mastodon_instance())
    network.on("POST", "/api/v1/statuses", answer(200, {"id": STATUS_ID, "url": made_up}))
    approve_channel("mastodon", actor="operator:ann")

    step = post(channel="mastodon")

    publication = Publication.objects.get()
    assert (publication.status, publication.external_id, publication.url) == (
        "published",
        STATUS_ID,
        "",
    )
    stage = admin_client.get(f"/stage/missions/{step.mission_id}").content.decode()
    assert f"published to mastodon ({STATUS_ID})" in stage and made_up[:6] not in stage
