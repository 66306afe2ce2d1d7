"""Generating a conversation: turn by turn, one LLM call each, speakers chosen by affinity."""

import time
from dataclasses import dataclass

from django.conf import settings

from opscore.actions import record_event
from opscore.llm import (
    LLMError,
    LLMReplyError,
    LLMRequest,
    OfflineProvider,
    OverBudget,
    call_llm,
    unusable,
)
from opscore.llm_records import link_call
from opscore.models import Agent
from opscore.prompting import derive_voice_modifiers, system_prompt
from roundtable.distillation import conversation_untrusted, distill
from roundtable.formats import FORMATS
from roundtable.lifecycle import (
    LeaseLost,
    close_conversation,
    excuse_disabled,
    refuse_late_write,
)
from roundtable.models import Conversation, ConversationStatus, Relationship, Turn, affinity_lookup
from roundtable.speech import (
    OFFLINE_MARK,
    SILENT,
    interaction_for,
    next_speaker,
    offline_line,
    own_words,
    plain,
    sanitize_turn,
)


def run_conversation(conversation: Conversation, rand, pause=None, on_turn=None) -> Conversation:
    """Generate every turn (one LLM call each), then distill. A failure fails this one; a turn
    the model answers unusably fails alone (turn_failed), unless too many do in a row.
    `on_turn(turn)` sees each turn as it is spoken (the CLI streams them)."""
    pause = settings.OPS_TURN_PAUSE_SECONDS if pause is None else pause
    try:
        if cannot := excuse_disabled(conversation):
            return close_conversation(conversation, ConversationStatus.FAILED, cannot)
        _speak(conversation, rand, pause, on_turn or (lambda turn: None))
        hold(conversation)  # distilling writes memories and drift: only while it is ours
        if cannot := excuse_disabled(conversation):  # disabled since the last turn
            raise TooFewLeft(cannot)
    except (LLMError, OverBudget) as error:
        return close_conversation(conversation, ConversationStatus.FAILED, str(error))
    except (TooFewLeft, BadTurns) as stopped:
        return close_conversation(conversation, ConversationStatus.FAILED, str(stopped))
    except LeaseLost:
        return refuse_late_write(conversation, conversation.lease_owner, "turn")
    return distill(conversation)


class TooFewLeft(RuntimeError):
    """Participants disabled mid-conversation left fewer than its format needs."""


class BadTurns(RuntimeError):
    """BAD_TURNS_IN_A_ROW turns in a row failed: the model keeps answering unusably."""


# One unusable reply fails its turn and the floor passes on; this many in a row end the
# conversation (each bad reply is billed, and the next is likely the same).
BAD_TURNS_IN_A_ROW = 2


def hold(conversation: Conversation) -> None:
    """Renew the lease before each piece of work, so a long conversation never looks dead;
    a worker whose lease was taken stops here."""
    if not conversation.renew_lease():
        raise LeaseLost(f"C{conversation.id} is no longer held by {conversation.lease_owner}")


def _speak(conversation: Conversation, rand, pause, on_turn) -> None:
    spec = FORMATS[conversation.format]
    agents = {a.slug: a for a in Agent.objects.filter(slug__in=conversation.participants)}
    lookup = affinity_lookup(Relationship.objects.affinity_table(conversation.participants))
    turns = rand.randint(*spec.turns)
    voices = {slug: derive_voice_modifiers(slug) for slug in agents}  # once per conversation
    spoken: dict[str, int] = {}
    last, failed = None, 0
    opener = next((slug for slug in spec.opener if slug in agents), None)
    index = conversation.turns.count()
    while index < turns:
        hold(conversation)
        if index and (cannot := excuse_disabled(conversation)):  # disabled since the last turn
            raise TooFewLeft(cannot)
        if index == 0 and opener and last is None:
            speaker = opener
        else:
            speaker = next_speaker(conversation.participants, last, spoken, lookup, rand)
        tension = 1 - lookup(speaker, last) if last else 0.5
        interaction = interaction_for(tension, rand)
        line = Line(agents[speaker], voices[speaker], interaction, spoken.get(speaker, 0))
        last = speaker
        try:
            text, call_id = turn_text(conversation, line, spec.temperature)
        except LLMReplyError as bad:
            failed += 1
            turn_failed(conversation, index, speaker, bad, failed)
            continue
        failed = 0
        turn = say(conversation, index, line, text)
        link_call(call_id, turn=turn.id)
        on_turn(turn)
        spoken[speaker] = spoken.get(speaker, 0) + 1
        index += 1
        if pause:
            wait_between_turns(rand.uniform(*pause) if isinstance(pause, tuple) else pause)


def turn_failed(conversation, index: int, speaker: str, bad: LLMReplyError, failed: int) -> None:
    """A turn the model answered unusably: its reason in one line on an event (the call's row
    has it too), the floor passing to the next speaker; BadTurns once too many in a row."""
    record_event(
        "conversation.turn_failed",
        f"C{conversation.id}: {speaker}'s turn {index + 1} failed",
        summary=f"{speaker}'s turn {index + 1} failed: {bad}",
        tags=["conversation", conversation.format, "turn_failed"],
        agent_id=speaker,
        payload={"conversation_id": conversation.id, "index": index, "speaker": speaker},
        actor="system:roundtable",
    )
    if failed >= BAD_TURNS_IN_A_ROW:
        said = f"the {index} turns said before are kept" if index else "no turn was said"
        raise BadTurns(f"{failed} turns in a row failed (the last: {bad}); {said}")


def wait_between_turns(seconds: float) -> None:
    """The pause between turns, named so a test can count this wait alone (patching the shared
    `time.sleep` would also count other threads' sleeps)."""
    time.sleep(seconds)


@dataclass(frozen=True)
class Line:
    """Who speaks next and how: the agent, its voice modifiers, the tone, and how many times
    it has spoken already."""

    agent: Agent
    voice: list
    interaction: str
    spoken: int


def say(conversation: Conversation, index: int, line: Line, text: str) -> Turn:
    speaker = line.agent.slug
    turn = Turn.objects.create(
        conversation=conversation,
        index=index,
        speaker_id=speaker,
        interaction=line.interaction,
        text=text,
    )
    record_event(
        "conversation.turn",
        f"{speaker}: {text}",
        tags=["conversation", conversation.format, line.interaction],
        agent_id=speaker,
        payload={
            "conversation_id": conversation.id,
            "index": index,
            "interaction": line.interaction,
            "text": text,
            "participants": conversation.participants,
        }
        | untrusted_so_far(conversation),
        actor=f"agent:{speaker}",
    )
    return turn


def untrusted_so_far(conversation: Conversation) -> dict:
    """A turn is as trusted as what the conversation's prompts have carried by now: its event
    is titled with the speaker's words, which a reaction or trigger may turn into work."""
    why = conversation_untrusted(conversation.id)
    return {"untrusted": why} if why else {}


def turn_text(conversation, line: Line, temperature: float) -> tuple[str, int | None]:
    """The turn's text and the LLMCall that said it."""
    agent, interaction = line.agent, line.interaction
    transcript = "\n".join(f"{t.speaker_id}: {t.text}" for t in conversation.turns.all())
    system, injected = system_prompt(agent, conversation.topic, line.voice)
    request = LLMRequest(
        system=system,
        injected=injected,
        messages=[
            {
                "role": "user",
                "content": (
                    f"A {conversation.format.replace('_', ' ')} about: {conversation.topic}\n"
                    f"So far:\n{transcript or '(you open)'}\n"
                    f"Reply in one short line (under 120 characters), {interaction} in tone, "
                    "no links, no markup."
                ),
            }
        ],
        temperature=temperature,
        max_tokens=80,
        tier="cheap",
        offline_hint={
            "text": offline_line(interaction, conversation.topic, agent.signature, line.spoken)
        },
    )
    reply = call_llm(
        request,
        agent=agent,
        purpose="roundtable.turn",
        prompt_version="turn.v1",
        links={"conversation": conversation.id},
    )
    return said(reply, agent.slug, conversation.participants), reply.call_id


def said(reply, speaker: str, participants) -> str:
    """The turn a reply makes. One with no words of its own once sanitised (empty, links and
    markup alone, another speaker's line) says nothing, in words no reader takes for the
    speaker's, and its call is a bad reply: a stand-in line would be read as the speaker's.
    Only the offline provider's reply keeps the [offline] mark: written by a real model, it
    passed the turn off as a stand-in, and the conversation's memories as never to be served."""
    offline = reply.provider == OfflineProvider.name  # a model writing the mark is not it
    words = own_words(plain(reply.text.removeprefix(OFFLINE_MARK)), speaker, participants)
    words = sanitize_turn(OFFLINE_MARK * offline + words, fallback=SILENT)
    if words.removeprefix(OFFLINE_MARK) == SILENT:
        unusable(reply, "no words of its own once sanitised")
    return words
