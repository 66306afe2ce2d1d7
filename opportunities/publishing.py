"""Posting for real, through the outbox only. The `post_tweet` executor picks the channel by
policy and refuses what it can know is wrong (a secret-looking string, too long, no channel)
before anything is queued; words no approval showed (a draft written after it), a channel's
first real post, a blocked channel and a stopped one wait as blocked steps. The deliverer
(`deliver_post`) then posts once per outbox row: a channel without credentials (or words from
the offline model) is recorded locally, not published; a 429 waits its Retry-After; a refused
credential blocks the channel with an alert, no retries.
"""

from dataclasses import replace

from django.conf import settings
from django.db import transaction

from missions.executors import Blocked, Effect, Failed, Succeeded
from missions.gates import spent_today
from missions.models import QUOTA_WAIT, Publication, PublicationStatus
from missions.outbox import ChannelSaidNo, Held, backoff_seconds, mission_ended
from missions.recovery import requeue_cleared_blockers
from missions.words import WAITING as WORDS_WAITING
from missions.words import words_hold, words_refused, words_to_approve
from opportunities.channels import ADAPTERS, LABELS, PostRequest
from opportunities.channels.base import (
    CLOCK_SKEW,
    CredentialsRefused,
    Duplicate,
    PostRejected,
    RateLimited,
    looked_since,
)
from opportunities.channels.limits import secret_in, too_long
from opportunities.models import ChannelAccount
from opscore.actions import record_event
from opscore.lanes import pause_of
from opscore.models import Event, Override, Policy

STOP = "stop_channel"  # the override kind: a per-channel kill switch
PAUSED_RECHECK_SECONDS = 60  # a post held by a paused publishing lane looks again this often
CREDENTIALS = {
    "x": "OPS_X_ACCESS_TOKEN",
    "bluesky": "OPS_BLUESKY_HANDLE and OPS_BLUESKY_APP_PASSWORD",
    "mastodon": "OPS_MASTODON_URL and OPS_MASTODON_TOKEN",
    "post_webhook": "OPS_POST_WEBHOOK_URL and OPS_POST_WEBHOOK_SECRET",
}


def tweet_text(step) -> str | None:
    """The payload's text, or the newest draft from a step this one depends on."""
    if step.payload.get("text"):
        return str(step.payload["text"])
    return words_to_approve(step)


def words_refusal(step, text: str) -> str | None:
    """Words no approval showed (a draft written after, or unlike, what the proposal's card
    showed) wait for a person to approve exactly them; the payload's own text was approved."""
    return None if step.payload.get("text") else words_hold(step, text)


def chosen_channel(step) -> tuple[str, str | None]:
    """The step's payload.channel, else its agent's, else the default; and why not, if not."""
    policy = Policy.objects.value("publishing_policy")
    wanted = step.payload.get("channel") or policy.agents.get(step.agent_id)
    wanted = str(wanted or policy.default_channel)[:40]
    if wanted not in policy.allowed_channels:
        return wanted, f"channel {wanted!r} is not in publishing_policy.allowed_channels"
    return wanted, None


def local_reason(channel: str) -> str | None:
    """Why a post on `channel` stays on this machine, or None when it can really go out."""
    if settings.OPSCORE_LLM == "offline":
        return "the LLM provider is offline"
    if not ADAPTERS[channel].configured():
        return f"no credentials for {LABELS[channel]} (set {CREDENTIALS[channel]})"
    return None


def stopped_by(channel: str) -> Override | None:
    return Override.objects.in_force().filter(kind=STOP, target=channel).first()


def account(channel: str) -> ChannelAccount:
    return ChannelAccount.objects.get_or_create(name=channel)[0]


def channel_hold(channel: str) -> tuple[str, str] | None:
    """(reason, blocker code) while posts to `channel` must wait, else None."""
    if stop := stopped_by(channel):
        return f"{channel} is stopped by override {stop.id}: {stop.reason}", "channel_stopped"
    if local_reason(channel):
        return None  # recorded locally: nothing leaves, nothing to approve
    standing = account(channel)
    if standing.blocked:
        return f"{channel} is blocked: {standing.blocked_reason}", "channel_blocked"
    if not standing.approved:
        return (
            f"the first post on {LABELS[channel]} waits for a human: "
            f".venv/bin/opscore channels approve {channel}",
            "channel_approval",
        )
    return None


def content_refusal(channel: str, text: str, limit: int | None = None) -> str | None:
    if found := secret_in(text):
        return f"the text contains what looks like {found}"
    return too_long(channel, text, limit)


def run_post_tweet(run):
    step = run.step
    text = tweet_text(step)
    if not text:
        return Failed("post_tweet needs payload.text or a draft_tweet it depends on", False)
    channel, refused = chosen_channel(step)
    refused = refused or content_refusal(channel, text) or words_refused(step, text)
    if refused:
        return Failed(f"post_tweet refused: {refused}", retryable=False, input_refused=True)
    if unapproved := words_refusal(step, text):
        return Blocked(unapproved, WORDS_WAITING)
    limit = Policy.objects.value("x_daily_quota").limit
    today = spent_today("post_tweet")  # every channel's, as the intake counts them
    if today >= limit:
        return Blocked(f"post_tweet: quota full at run time ({today}/{limit})", QUOTA_WAIT)
    if hold := channel_hold(channel):
        return Blocked(*hold)
    effect = Effect(key=f"post:{channel}:{step.id}", channel=channel, payload={"text": text})
    return Succeeded({"queued_for": channel}, effects=[effect])


def held_step_cleared(step) -> bool:
    """The blocker check for channel_* codes: may this step's channel take posts now?"""
    return channel_hold(chosen_channel(step)[0]) is None


def deliver_post(message) -> str:
    """The outbox channel for every publishing network: post once, or say why not."""
    publication = publication_for(message)
    if publication.status != PublicationStatus.PENDING:
        return publication.external_id or f"{publication.status}-{publication.id}"
    if pause := pause_of("publishing"):  # a post queued before the pause waits too
        raise Held(f"held: {pause.why}", retry_after=PAUSED_RECHECK_SECONDS)
    if reason := mission_ended(message):
        return refuse(publication, reason)
    if reason := local_reason(message.channel):
        return keep_local(publication, reason)
    if reason := delivery_refusal(message.channel, publication.body):
        return refuse(publication, reason)
    adapter = ADAPTERS[message.channel].Channel()
    try:
        return post_through(adapter, publication, message)
    except RateLimited as limited:  # "now" (0, a reset already past) is the backoff, no storm
        wait = max(limited.retry_after, backoff_seconds(message.attempts))
        raise ChannelSaidNo(f"{limited} (retry in {wait:.0f} s)", retry_after=wait) from None
    except CredentialsRefused as refused:
        reason = str(refused)
        raise ChannelSaidNo(
            reason, retry_after=None, aftermath=lambda: credential_refused(message, reason)
        ) from None
    except PostRejected as rejected:
        return refuse(publication, str(rejected))
    finally:
        adapter.close()


def publication_for(message) -> Publication:
    """The outbox row's one Publication (the OneToOne makes a second impossible)."""
    return Publication.objects.get_or_create(
        outbox=message,
        defaults={
            "step_id": message.step_id,
            "channel": message.channel,
            "body": message.payload["text"],
        },
    )[0]


def post_given_up(message, reason: str) -> None:
    """The outbox gave the post up (every attempt a 5xx, a timeout, a malformed answer): a
    failed Publication with the last reason, where the mission page, the digest and the admin
    look. Each attempt's Publication went with its rolled-back send, so there was none."""
    publication = publication_for(message)
    if publication.status == PublicationStatus.PENDING:
        publication.set_aside(PublicationStatus.FAILED, reason)


def delivery_refusal(channel: str, text: str) -> str | None:
    """Checked again at send time: the switch or block may be newer than the step."""
    if stop := stopped_by(channel):
        return f"{channel} is stopped by override {stop.id}: {stop.reason}"
    if account(channel).blocked:
        return f"{channel} is blocked: {account(channel).blocked_reason}"
    return content_refusal(channel, text)


def post_through(adapter, publication: Publication, message) -> str:
    """Check the channel's own limit, look before a retry where the channel has no
    idempotency key, post, and keep the channel's id and URL."""
    request = PostRequest(publication.body, message.key, message.created_at, message.id)
    if reason := too_long(adapter.name, request.text, adapter.limit()):
        return refuse(publication, reason)
    retrying = message.attempts > 1 and not adapter.idempotent
    posted = looked_for(adapter, request, publication) if retrying else None
    if posted is None:
        try:
            posted = adapter.publish(request)
        except Duplicate:
            posted = looked_for(adapter, request, publication)
    if posted is None:
        return refuse(publication, f"{adapter.name} calls it a duplicate, yet it is not found")
    publication.mark_published(
        posted.post_id, posted.url, measured=adapter.measures, odd_ids=adapter.odd_ids
    )
    announce_post(publication, message.step)
    return publication.external_id or f"published-{publication.id}"  # an id kept as it came


def looked_for(adapter, request, publication: Publication):
    """The channel's look for the post. One it refuses (a 4xx: a token without the scope the
    look needs, as Mastodon's verify_credentials asks read:accounts) is no refusal of the post,
    which the lost answer may well have made, and no retry can look: the credential is what
    a human must fix, so it is refused as a credential is (the channel blocked, one alert).
    A post another row holds is never this one's, however alike their words."""
    since = looked_since(request) - CLOCK_SKEW  # our clock when it was kept, theirs when made
    posted = Publication.objects.filter(channel=publication.channel, published_at__gte=since)
    held = posted.exclude(pk=publication.pk).exclude(external_id="")
    request = replace(request, taken=frozenset(held.values_list("external_id", flat=True)))
    try:
        return adapter.find(request)
    except PostRejected as refused:
        raise CredentialsRefused(f"looking for it: {refused}") from None


def keep_local(publication: Publication, reason: str) -> str:
    """Recorded here with its reason and event, never announced as posted."""
    publication.set_aside(PublicationStatus.LOCAL, reason)
    post_event(publication, "tweet.not_posted", "Recorded locally, not published", reason)
    return f"not-posted-{publication.id}"


def refuse(publication: Publication, reason: str) -> str:
    publication.set_aside(PublicationStatus.REFUSED, reason)
    post_event(publication, "tweet.refused", "Refused before posting", reason)
    return f"refused-{publication.id}"


def post_event(publication: Publication, kind: str, said: str, reason: str) -> None:
    step = publication.step
    shown = (
        "[withheld: it looks like a secret]" if secret_in(publication.body) else publication.body
    )
    record_event(
        kind,
        f"{said}: {shown[:120]}",
        summary=reason,
        tags=["tweet", kind.split(".")[1], publication.channel],
        payload={"publication_id": publication.id, "reason": reason},
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor=f"channel:{publication.channel}",
        dedupe_key=f"publication:{publication.id}",
    )


def announce_post(publication: Publication, step) -> None:
    """`tweet.posted` — what the reaction matrix listens for — once per publication."""
    record_event(
        "tweet.posted",
        f"Posted to {LABELS[publication.channel]}: {publication.body[:120]}",
        tags=["tweet", "posted", publication.channel],
        payload={
            "publication_id": publication.id,
            "external_id": publication.external_id,
            "url": publication.url,
        },
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor=f"channel:{publication.channel}",
        dedupe_key=f"publication:{publication.id}",
    )


@transaction.atomic
def credential_refused(message, reason: str) -> None:
    """The post failed with the reason, and the channel is blocked with one alert."""
    publication = publication_for(message)
    publication.set_aside(PublicationStatus.FAILED, reason)
    block_channel(message.channel, reason)


def block_channel(channel: str, reason: str) -> None:
    if not account(channel).block(reason):
        return
    record_event(
        "channel.blocked",
        f"{LABELS[channel]} blocked: its credential was refused",
        summary=f"{reason} — fix the credential, then: opscore channels unblock {channel}",
        tags=["alert", "channel", channel],
        payload={"channel": channel, "reason": reason},
        actor=f"channel:{channel}",
        dedupe_key=f"channel.blocked:{channel}:{account(channel).blocked_at.timestamp():.0f}",
    )


class ChannelRefused(ValueError):
    """An approve or unblock that cannot be done as asked; the message says why."""


def known_channel(channel: str, actor: str) -> str:
    if channel not in ADAPTERS:
        raise ChannelRefused(f"unknown channel {channel!r}; known: {', '.join(ADAPTERS)}")
    longest = Event._meta.get_field("actor").max_length  # the decision's event keeps the actor
    if not actor.strip() or len(actor) > longest:
        raise ChannelRefused(f"an actor is 1 to {longest} characters ({len(actor)} given)")
    return channel


@transaction.atomic
def approve_channel(channel: str, *, actor: str) -> ChannelAccount:
    """A human lets the channel's first real post go; posts waiting on it are requeued."""
    standing = account(known_channel(channel, actor))
    if standing.approved:
        raise ChannelRefused(f"{channel} was approved by {standing.approved_by} already")
    standing.approve(actor)
    record_event(
        "channel.approved",
        f"{LABELS[channel]} approved for posting by {actor}",
        tags=["channel", "approved", channel],
        payload={"channel": channel},
        actor=actor,
    )
    transaction.on_commit(requeue_cleared_blockers)
    return standing


@transaction.atomic
def unblock_channel(channel: str, *, actor: str) -> ChannelAccount:
    """After the credential is fixed: the channel takes posts again."""
    standing = account(known_channel(channel, actor))
    if not standing.blocked:
        raise ChannelRefused(f"{channel} is not blocked")
    was = standing.blocked_reason
    standing.unblock()
    record_event(
        "channel.unblocked",
        f"{LABELS[channel]} unblocked by {actor}",
        summary=f"was: {was}",
        tags=["channel", "unblocked", channel],
        payload={"channel": channel},
        actor=actor,
    )
    transaction.on_commit(requeue_cleared_blockers)
    return standing
