"""Executors that do the company's work: LLM steps, crawling, deploying. Publishing
(`post_tweet` and its channels) belongs to the opportunities lane: opportunities.publishing."""

from missions.crawl import CrawlRefused, fetch_main_text
from missions.execution import LeaseLost, under_lease
from missions.executors import ArtifactDraft, Blocked, Effect, Failed, Succeeded
from missions.prompts import build_request
from missions.step_switches import held_after_call, held_at_write
from missions.text import strip_invisible
from opscore.llm import (
    LLMError,
    LLMReplyError,
    OverBudget,
    TransientLLMError,
    call_llm,
    unusable,
)
from opscore.replay import written_by_then

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
    if held := held_after_call(run):
        return held
    text, problem = check_reply(step.kind, reply.text)
    if problem:
        unusable(reply, f"{reply.provider}: {problem}")
        return Failed(f"malformed LLM reply: {problem}", retryable=False, bad_reply=True)
    if asked := ask_if_asking(run, text):
        return asked
    title = str(step.payload.get("topic") or step.mission.title)[:300]
    meta = {"provider": reply.provider, "model": reply.model, "prompt_version": version}
    return Succeeded(
        {"text": text, **meta},
        artifacts=[ArtifactDraft(kind=step.kind, title=title, body=text, metadata=meta)],
        # A replay (no lease token) shows what the reply made, whatever today's switches say.
        unless_switched=None if run.token is None else lambda: held_at_write(step),
    )


def ask_if_asking(run, text: str) -> Blocked | Failed | None:
    """A reply that is a question for the operator blocks the step until they answer (or the
    wait runs out); a step asks once, so a second question is taken as its answer (a replay
    counts only the questions asked before the call it replays). Asked under the step's lease:
    a worker whose step was taken from it mid-call (cancelled, timed out) left a question on
    the Inbox that no step waited on, and a retry's own question was then taken as an answer."""
    from missions.threads import QUESTION_PREFIX, WAITING, ask_operator, question_block_reason

    step = run.step
    if not text.upper().startswith(QUESTION_PREFIX) or written_by_then(step.questions).exists():
        return None
    question = text[len(QUESTION_PREFIX) :].strip() or "(the agent asked nothing in words)"
    try:
        with under_lease(step.id, run.token):
            comment = ask_operator(step, question)
    except LeaseLost as lost:
        return Failed(str(lost), retryable=False)
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
    "deploy": run_deploy,
    "noop": run_noop,
}
