"""What every prompt carries besides its task: the agent's voice (with what its memories taught
it) and the context providers' sections (lanes register theirs). One function builds it
for steps, standing orders and the lanes' own turns alike, and says what it injected."""

import math
import time

from django.conf import settings

from opscore.llm_providers import provider_override
from opscore.registry import Registry

# name → provider(agent_slug, context_text) -> (section_text, refs)
CONTEXT_PROVIDERS: Registry = Registry("prompt context provider")
# name → provider(agent_slug) -> [modifier, …]: voice evolution, derived without an LLM
VOICE_MODIFIERS: Registry = Registry("voice modifier provider")
MAX_VOICE_MODIFIERS = 3


_derived: dict[str, tuple[float, list[str]]] = {}  # agent → (derived at, modifiers)


def voice_modifiers(agent_slug: str) -> list[str]:
    """At most three, in the providers' order: a voice drifts, it is not rewritten. Derived
    at most every OPS_VOICE_CACHE_SECONDS per process: the statistics behind them cost a scan
    of the agent's memories, and a step prompt is built many times a minute. Never derived
    is never fresh, however young the process's clock (time.monotonic() counts from boot, so
    dating 'never' at 0 served no voice for the first minute after the machine started).
    A recorded replay derives each call's afresh, from the memories as that call read them,
    and caches none: a voice derived for one moment is neither another's nor today's."""
    if getattr(provider_override(), "moment", None) is not None:
        return derive_voice_modifiers(agent_slug)
    derived_at, modifiers = _derived.get(agent_slug, (-math.inf, []))
    if time.monotonic() - derived_at < settings.OPS_VOICE_CACHE_SECONDS:
        return modifiers
    modifiers = derive_voice_modifiers(agent_slug)
    _derived[agent_slug] = (time.monotonic(), modifiers)
    return modifiers


def forget_derived_voices() -> None:
    _derived.clear()


def derive_voice_modifiers(agent_slug: str) -> list[str]:
    found: list[str] = []
    for name in VOICE_MODIFIERS.names():
        found += [m for m in VOICE_MODIFIERS[name](agent_slug) if m not in found]
    return found[:MAX_VOICE_MODIFIERS]


def system_prompt(agent, context: str, modifiers: list[str] | None = None) -> tuple[str, dict]:
    """The agent's voice plus each provider's delimited section, and what was injected.
    A caller that speaks many times (a conversation) derives `modifiers` once and passes them."""
    if modifiers is None:
        modifiers = voice_modifiers(agent.slug)
    modifiers = modifiers[:MAX_VOICE_MODIFIERS]
    parts = [agent.voice(modifiers)]
    injected = {"voice_version": agent.voice_version(modifiers), "voice_modifiers": modifiers}
    for name in CONTEXT_PROVIDERS.names():
        section, refs = CONTEXT_PROVIDERS[name](agent.slug, context)
        if section:
            parts.append(section)
        injected |= refs
    return "\n\n".join(parts), injected
