"""A chat with the company: the operator asks, the coordinator answers from the ledger.

Each message gets the ledger's facts (console/chat_ledger.py) and one budgeted model call
(`chat.answer`, the talk lane) that words an answer from those facts only; an answer naming a
row it was not given is replaced by the facts themselves, so nothing said is invented. Asked
for work, it drafts a proposal and shows it; only the operator's confirmation submits it to the
single intake, as untrusted input (never auto-approved). Offline, it says what it would do."""

import re

from django.conf import settings
from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field

from console.chat_ledger import REF, Fact, facts_for
from console.models import ChatMessage, ChatRole, DraftState
from missions.actions import submit_proposal
from missions.schemas import ProposalDraft, ProposalInvalid
from missions.talk import TalkNotFound, TalkRefused, TalkSettled, keep_talk, mentioned_agent
from opscore.actions import record_event
from opscore.inputs import MalformedReply
from opscore.llm import LLMError, LLMRequest, call_llm, parse_llm_reply
from opscore.llm_deadline import answer_within
from opscore.models import Agent
from opscore.prompting import system_prompt
from opscore.switch_checks import SwitchedMidCall, agent_off, asked_after_calls

PROMPT_VERSION = "chat.v1"
WORK = re.compile(
    r"^(please\s+)?((can|could|would|will) you\s+)?(please\s+)?(write|draft|analy[sz]e|research|"
    r"investigate|review|look into|summari[sz]e|prepare|propose|find out|study|compare|audit|"
    r"tweet|plan)\b",
    re.IGNORECASE,
)
KINDS = ("analyze", "write_content", "draft_tweet")
# Any ledger id an answer may name: missions, steps, proposals, calls, and the goals, threads'
# comments (T), conversations and chat messages (C), opportunities, coding runs (R), feedback,
# initiatives and artifacts the Stage names the same way; only M, S, P and L rows are given.
ANY_REF = re.compile(r"\b[MSPLGTCORFIA]\d{1,12}\b")


class WorkAsk(BaseModel):
    model_config = ConfigDict(extra="ignore")
    title: str = Field(min_length=1, max_length=200)
    kind: str = Field(pattern="^(analyze|write_content|draft_tweet)$")
    topic: str = Field(min_length=1, max_length=2000)


class ChatReply(BaseModel):
    model_config = ConfigDict(extra="ignore")
    answer: str = Field(min_length=1, max_length=8000)
    work: WorkAsk | None = None


def coordinator(text: str) -> Agent:
    """Who answers: the agent the message names, else the coordinator, else any agent; only
    one that is on (a disabled agent does not act, so no model call is made as it)."""
    agent = mentioned_agent(text)
    agent = agent if agent is not None and agent.enabled else None
    agent = agent or Agent.objects.enabled().filter(slug="coordinator").first()
    agent = agent or Agent.objects.enabled().order_by("slug").first()
    if agent is None:
        raise TalkRefused("no agent to talk to: bootstrap a roster first")
    return agent


def guess_work(text: str) -> WorkAsk | None:
    """The rule that stands in for the model offline: a request that opens with a verb of
    work, naming no row, is work; anything else is a question for the ledger."""
    if not WORK.match(text) or REF.search(text):
        return None
    lowered = text.lower()
    kind = "draft_tweet" if "tweet" in lowered else "analyze"
    kind = (
        "write_content"
        if kind == "analyze" and re.match(r"^\W*(please )?(write|draft)", lowered)
        else kind
    )
    return WorkAsk(title=text[:200], kind=kind, topic=text[:2000])


def offline_answer(facts: list[Fact], work: WorkAsk | None, agent: Agent) -> str:
    if work is not None:
        return (
            "[offline] No model read your request, so this is my rule-based guess. I would"
            f" propose '{work.title}' ({work.kind}, by {agent.slug}) to the intake. Confirm it"
            " to submit; it then waits for an approver."
        )
    return (
        "[offline] No model is configured, so I cannot word an answer; with one I would sum up"
        f" these rows for you. {facts_answer(facts)}"
    )


def facts_answer(facts: list[Fact]) -> str:
    lines = "\n".join(f"- {fact.text}" for fact in facts) or "- No row answers that."
    return f"What the ledger says:\n{lines}"


def ask_request(text: str, facts: list[Fact], agent: Agent, hint: dict) -> LLMRequest:
    system, injected = system_prompt(agent, text)
    rows = "\n".join(f"- {fact.text}" for fact in facts) or "- (no rows)"
    task = (
        "You are answering the operator in the company chat. Use only the ledger rows below;"
        " cite the ids you use (M5, S12, P3, L40) and never state anything they do not say."
        " If they ask for work, do not do it: describe it in `work` (kind analyze,"
        " write_content or draft_tweet) and it will be shown to them as a draft proposal."
        ' Reply with JSON only: {"answer": "...", "work": null or {"title", "kind", "topic"}}.'
        f"\n\nLedger rows:\n{rows}\n\nThe operator's message (untrusted text):\n{text}"
    )
    return LLMRequest(
        system=system,
        messages=[{"role": "user", "content": task}],
        temperature=0.2,
        max_tokens=700,
        tier="cheap",
        offline_hint={"json": hint},
        injected=injected,
    )


def send_message(text, *, actor: str, user=None) -> ChatMessage:
    """The operator's message and the coordinator's answer (returned), both kept."""
    with answer_within(settings.OPS_TALK_DEADLINE_SECONDS):  # from when the person asked
        asked = keep_talk(
            text,
            actor=actor,
            where="chat",
            keep=lambda cleaned: _record_message(cleaned, actor, user),
        )
        return answer(asked)


def _record_message(text: str, actor: str, user) -> ChatMessage:
    asked = ChatMessage.objects.create(
        actor=actor, operator=user, role=ChatRole.OPERATOR, text=text
    )
    record_event(  # who wrote which message, not its words: the chat is its author's alone,
        "chat.message",  # and the feed is anyone's on a public Stage
        f"{actor} wrote in the chat (C{asked.id})",
        tags=["chat"],
        payload={"chat_message_id": asked.id, "untrusted": True},
        actor=actor,
    )
    return asked


def answer(asked: ChatMessage) -> ChatMessage:
    agent, facts = coordinator(asked.text), facts_for(asked.text)
    guessed = guess_work(asked.text)
    offline = settings.OPSCORE_LLM == "offline"
    hint = {
        "answer": offline_answer(facts, guessed, agent),
        "work": guessed and guessed.model_dump(),
    }
    reply, call_id, note = _ask_model(asked.text, facts, agent, hint)
    if reply and (stray := _unread_refs(reply.answer, facts)):
        note = f"the model named rows it was not given ({', '.join(stray)}); here are the rows"
        reply = ledger_reply(facts, reply.work)
    work = reply.work if reply else guessed
    text = reply.answer if reply else fallback(hint["answer"], facts, guessed, offline)
    message = ChatMessage(
        actor=asked.actor,
        operator=asked.operator,
        role=ChatRole.COORDINATOR,
        in_reply_to=asked,
        text=f"{text}\n\n({note})" if note else text,
        citations=[vars(ref) for fact in facts for ref in fact.refs] if not work else [],
        offline=offline or bool(note),
        llm_call_id=call_id,
    )
    _attach_draft(message, work, agent, asked)
    message.save()
    return message


def fallback(offline_text: str, facts: list[Fact], guessed, offline: bool) -> str:
    """No usable model answer: offline, the honest offline text; online (the call failed), the
    rows, or the rule-based draft's words without the offline mark."""
    if offline:
        return offline_text
    return offline_text.removeprefix("[offline] ") if guessed else facts_answer(facts)


def _ask_model(text, facts, agent, hint) -> tuple[ChatReply | None, int | None, str]:
    """Asked while the operator's request waits: by the deadline send_message set when they
    asked, for every try together. An agent disabled while the call was out answers nothing
    (as a thread reply): the rows are shown, with why."""
    request = ask_request(text, facts, agent, hint)
    try:
        with asked_after_calls(lambda: agent_off(agent.slug)):  # disabled while it was out
            reply = call_llm(
                request, agent=agent, purpose="chat.answer", prompt_version=PROMPT_VERSION
            )
        return parse_llm_reply(reply, ChatReply, "chat"), reply.call_id, ""
    except SwitchedMidCall as switched:  # its words, and its draft, are not shown as its
        said = f"no answer from {agent.slug}: {switched.said} (while its answer was being written)"
        return ledger_reply(facts), None, said
    except (LLMError, MalformedReply) as error:  # a reply in prose fits no schema: the rows
        return None, None, f"no model answer: {' '.join(str(error).split())[:200]}"


def ledger_reply(facts: list[Fact], work: WorkAsk | None = None) -> ChatReply:
    """The rows themselves in a model answer's place: the ledger's words, not checked against
    the limits of a model's answer (twenty facts with long step errors run past them)."""
    return ChatReply.model_construct(answer=facts_answer(facts), work=work)


def _unread_refs(text: str, facts: list[Fact]) -> list[str]:
    given = {ref.ref for fact in facts for ref in fact.refs}
    given |= {ref for fact in facts for ref in ANY_REF.findall(fact.text)}
    return sorted({ref for ref in ANY_REF.findall(text) if ref not in given})


def _attach_draft(message: ChatMessage, work: WorkAsk | None, agent: Agent, asked) -> None:
    if work is None:
        return
    draft = {
        "agent": agent.slug,
        "title": work.title,
        "description": f"Drafted by the chat from {asked.actor}'s message C{asked.id}.",
        "steps": [{"kind": work.kind, "payload": {"topic": work.topic}}],
    }
    try:
        ProposalDraft.parse(draft)
    except ProposalInvalid as invalid:
        message.text += f"\n\n(I could not draft it: {invalid})"
        return
    message.draft, message.draft_state = draft, DraftState.DRAFTED


def confirm_draft(message_id: int, *, actor: str, user=None):
    """Submit the shown draft to the intake, once. Untrusted and needing a human: a chat's
    proposal is never auto-approved, whoever confirms it. A draft the intake refuses stays
    drafted, and the refusal is an event with its reason, written after the rollback."""
    try:
        with transaction.atomic():
            message = _own_draft(message_id, actor)
            result = _submit(message, user)
            message.settle_draft(DraftState.SUBMITTED, result.proposal)
            return result
    except ProposalInvalid as invalid:
        reason = f"the intake refused draft C{message_id}: {invalid}"
        record_event(
            "chat.draft_refused",
            f"Draft C{message_id} refused by the intake",
            summary=reason,
            tags=["chat", "draft", "refused"],
            payload={"chat_message_id": message_id, "reason": reason},
            actor=actor,
        )
        raise TalkRefused(reason) from None


def _submit(message: ChatMessage, user):
    return submit_proposal(
        message.draft,
        source="chat",
        untrusted=True,
        untrusted_reason=f"drafted by the chat from operator text (C{message.in_reply_to_id})",
        needs_human=True,
        operator=user,
        cause_ref=f"chat:{message.id}",
    )


@transaction.atomic
def discard_draft(message_id: int, *, actor: str) -> ChatMessage:
    message = _own_draft(message_id, actor)
    message.settle_draft(DraftState.DISCARDED)
    return message


def _own_draft(message_id: int, actor: str) -> ChatMessage:
    message = ChatMessage.objects.select_for_update().filter(pk=message_id, actor=actor).first()
    if message is None or message.draft is None:
        raise TalkNotFound(f"no draft C{message_id} in your chat")
    if message.draft_state != DraftState.DRAFTED:
        raise TalkSettled(f"draft C{message.id} is already {message.draft_state}")
    return message


def history(actor: str, limit: int = 50) -> list[ChatMessage]:
    rows = ChatMessage.objects.filter(actor=actor).select_related("proposal", "llm_call")
    rows = rows.order_by("-id")
    return list(reversed(rows[:limit]))


def as_json(message: ChatMessage) -> dict:
    return {
        "id": message.id,
        "role": message.role,
        "text": message.text,
        "citations": message.citations,
        "offline": message.offline,
        "agent": message.llm_call.agent_id if message.llm_call_id else None,  # who answered
        "draft": message.draft,
        "draft_state": message.draft_state,
        "proposal_id": message.proposal_id,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }
