"""Executors that do the company's work: LLM steps, crawling, publishing, deploying."""

from django.conf import settings
from django.db.models.functions import Now

from missions.crawl import CrawlRefused, fetch_main_text
from missions.executors import ArtifactDraft, Blocked, Effect, Failed, Succeeded
from missions.models import ContentMetric, Publication, PublicationStatus, start_of_today
from missions.prompts import build_request
from missions.text import strip_invisible
from opscore.actions import record_event
from opscore.llm import LLMError, LLMReplyError, OverBudget, TransientLLMError, call_llm
from opscore.models import Policy

TWEET_LIMIT = 280


def check_reply(kind: str, text: str) -> tuple[str, str | None]:
    """Return the cleaned text and, if it is unusable, why."""
    cleaned = strip_invisible(text).strip()
    if not cleaned:
        return cleaned, "the model returned no text"
    if kind == "draft_tweet" and len(cleaned) > TWEET_LIMIT:
        return cleaned, f"a tweet draft of {len(cleaned)} characters (limit {TWEET_LIMIT})"
    return cleaned, None


def run_llm_step(run):
    step = run.step
    request, version = build_request(step)
    try:
        reply = call_llm(
            request, agent=step.agent, purpose=step.kind, prompt_version=version, step=step
        )
    except OverBudget as over:
        return Blocked(str(over), code="llm_budget")
    except TransientLLMError as error:
        return Failed(f"LLM unavailable after retries: {error}", retryable=True)
    except LLMReplyError as error:
        return Failed(f"bad LLM reply: {error}", retryable=False, bad_reply=True)
    except LLMError as error:
        return Failed(f"LLM call failed: {error}", retryable=False)
    text, problem = check_reply(step.kind, reply.text)
    if problem:
        return Failed(f"malformed LLM reply: {problem}", retryable=False, bad_reply=True)
    if asked := ask_if_asking(step, text):
        return asked
    title = str(step.payload.get("topic") or step.mission.title)[:300]
    meta = {"provider": reply.provider, "model": reply.model, "prompt_version": version}
    return Succeeded(
        {"text": text, **meta},
        artifacts=[ArtifactDraft(kind=step.kind, title=title, body=text, metadata=meta)],
    )


def ask_if_asking(step, text: str) -> Blocked | None:
    """A reply that is a question for the operator blocks the step until they answer (or the
    wait runs out); a step asks once, so a second question is taken as its answer."""
    from missions.threads import QUESTION_PREFIX, WAITING, ask_operator, question_block_reason

    if not text.upper().startswith(QUESTION_PREFIX) or step.questions.exists():
        return None
    question = text[len(QUESTION_PREFIX) :].strip() or "(the agent asked nothing in words)"
    comment = ask_operator(step, question)
    return Blocked(question_block_reason(comment), code=WAITING)


def run_crawl(run):
    url = run.step.payload.get("url")
    if not isinstance(url, str) or not url:
        return Failed("crawl needs a payload.url string", retryable=False, input_refused=True)
    try:
        page = fetch_main_text(url)
    except CrawlRefused as refused:
        return Failed(f"crawl refused: {refused}", retryable=False, input_refused=True)
    except OSError as error:
        return Failed(f"crawl failed: {error}", retryable=True)
    draft = ArtifactDraft(
        kind="crawl",
        title=page.title[:300] or page.url,
        body=page.text,
        metadata={"final_url": page.url, "bytes": page.size},
        provenance="untrusted",
        source_url=page.url[:2000],
    )
    return Succeeded({"url": page.url, "chars": len(page.text)}, artifacts=[draft])


def tweet_text(step) -> str | None:
    """The payload's text, or the newest draft from a step this one depends on."""
    if step.payload.get("text"):
        return str(step.payload["text"])
    from missions.models import Artifact

    draft = (
        Artifact.objects.filter(step__in=step.depends_on.all(), kind="draft_tweet")
        .order_by("-id")
        .first()
    )
    return draft.body if draft else None


def run_post_tweet(run):
    step = run.step
    text = tweet_text(step)
    if not text:
        return Failed("post_tweet needs payload.text or a draft_tweet it depends on", False)
    limit = Policy.objects.value("x_daily_quota").limit
    published = Publication.objects.filter(channel="x", created_at__gte=start_of_today()).count()
    if published >= limit:
        return Blocked(f"post_tweet: quota full at run time ({published}/{limit})", "quota")
    effect = Effect(key=f"post_tweet:{step.id}", channel="x", payload={"text": text[:TWEET_LIMIT]})
    return Succeeded({"queued_for": "x"}, effects=[effect])


def publish_to_x(message) -> str:
    """The default X channel records the post locally; a real client is a plug-in channel.
    With the offline LLM provider its words are stand-ins, so the row says *not posted
    (offline)* and no `tweet.posted` is announced: nothing left the machine."""
    publication, _ = Publication.objects.get_or_create(
        outbox=message,
        defaults={"step_id": message.step_id, "channel": "x", "body": message.payload["text"]},
    )
    if settings.OPSCORE_LLM == "offline":
        return keep_local(publication, message.step)
    publication.status, publication.published_at = PublicationStatus.PUBLISHED, Now()
    publication.external_id = f"local-x-{publication.id}"
    publication.save()
    announce_post(publication, message.step)
    # The local channel has no audience; its first measurement is zero (real channels report).
    ContentMetric.objects.get_or_create(
        publication=publication,
        defaults={
            "post_ref": publication.external_id,
            "impressions": 0,
            "engagements": 0,
            "engagement_rate": 0.0,
        },
    )
    return publication.external_id


def keep_local(publication, step) -> str:
    """An offline post: recorded as local with its event, never announced as posted."""
    publication.status, publication.external_id = PublicationStatus.LOCAL, ""
    publication.save(update_fields=["status", "external_id"])
    record_event(
        "tweet.not_posted",
        f"Not posted (offline): {publication.body[:120]}",
        tags=["tweet", "not_posted", "offline"],
        payload={"publication_id": publication.id, "reason": "the LLM provider is offline"},
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor=f"channel:{publication.channel}",
        dedupe_key=f"publication:{publication.id}",
    )
    return f"not-posted-{publication.id}"


def announce_post(publication, step) -> None:
    """`tweet.posted` — what the reaction matrix listens for — once per publication."""
    record_event(
        "tweet.posted",
        f"Posted: {publication.body[:120]}",
        tags=["tweet", "posted"],
        payload={"publication_id": publication.id, "external_id": publication.external_id},
        agent_id=step.agent_id,
        mission_id=step.mission_id,
        step=step,
        actor=f"channel:{publication.channel}",
        dedupe_key=f"publication:{publication.id}",
    )


def run_deploy(run):
    """Deploys only ever run after a human approved the proposal (never auto-approved)."""
    target = run.step.payload.get("target", "default")
    effect = Effect(key=f"deploy:{run.step.id}", channel="local", payload={"target": target})
    return Succeeded({"deploy_requested": target}, effects=[effect])


def run_noop(run):
    return Succeeded({"ok": True})


EXECUTORS = {
    "analyze": run_llm_step,
    "write_content": run_llm_step,
    "draft_tweet": run_llm_step,
    "crawl": run_crawl,
    "post_tweet": run_post_tweet,
    "deploy": run_deploy,
    "noop": run_noop,
}
CHANNELS = {"x": publish_to_x}
