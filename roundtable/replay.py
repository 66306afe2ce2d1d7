"""Replaying a conversation: the recorded speakers and tones (chance chose them, not a model)
speak again through today's prompt, then today's distillation runs; each turn's text and the
distillation's summary are compared with what the conversation recorded then. A turn whose
call failed (or whose words came too late to be said) was never said: its call is named as not
replayed, and a conversation that stopped there is not distilled now either."""

from opscore.models import Agent, LLMCall
from opscore.prompting import derive_voice_modifiers
from opscore.replay import replay
from roundtable.distillation import distill
from roundtable.formats import FORMATS
from roundtable.models import Conversation
from roundtable.speaking import Line, say, turn_text

TURN = "roundtable.turn"  # speaking.turn_text's purpose


def replay_conversation(conversation_id: int, *, live: bool = False, actor: str = ""):
    """Raises Conversation.DoesNotExist for an unknown id; the caller reports it."""
    conversation = Conversation.objects.get(pk=conversation_id)
    calls = LLMCall.objects.linked_to(conversation=conversation.id)
    rerun = lambda provider: _rerun(conversation, provider)  # noqa: E731
    return replay("conversation", conversation.id, calls, rerun, live=live, actor=actor)


def _rerun(conversation: Conversation, provider) -> None:
    said = list(conversation.turns.order_by("index"))
    was = {"status": conversation.status, "distillation": conversation.distillation}
    conversation.turns.all().delete()  # inside the replay's rolled-back transaction
    agents = {a.slug: a for a in Agent.objects.filter(slug__in=conversation.participants)}
    voices = {slug: derive_voice_modifiers(slug) for slug in agents}
    temperature, spoken = FORMATS[conversation.format].temperature, {}
    for turn in said:
        slug = turn.speaker_id
        line = Line(agents[slug], voices[slug], turn.interaction, spoken.get(slug, 0))
        provider.as_it_was()
        text, _ = turn_text(conversation, line, temperature)
        provider.decided(
            {"turn": turn.index, "text": turn.text}, {"turn": turn.index, "text": text}
        )
        say(conversation, turn.index, line, text)
        spoken[slug] = spoken.get(slug, 0) + 1
    while provider.calls and provider.calls[0].purpose == TURN:
        provider.skip("its turn was never said: the conversation stopped at this call")
    if provider.calls:  # the distillation's: a conversation that stopped has none
        provider.as_it_was()
        ended = distill(conversation)
        provider.decided(was, {"status": ended.status, "distillation": ended.distillation})
