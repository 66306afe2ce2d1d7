"""What every prompt carries besides its task: the agent's voice (with what its memories taught
it) and the context providers' sections (the memory lane registers one). One function builds it
for steps, standing orders, roundtable turns and distillation alike, and says what it injected."""

from opscore.registry import Registry

# name → provider(agent_slug, context_text) -> (section_text, refs)
CONTEXT_PROVIDERS: Registry = Registry("prompt context provider")
# name → provider(agent_slug) -> [modifier, …]: voice evolution, derived without an LLM
VOICE_MODIFIERS: Registry = Registry("voice modifier provider")
MAX_VOICE_MODIFIERS = 3


def voice_modifiers(agent_slug: str) -> list[str]:
    """At most three, in the providers' order: a voice drifts, it is not rewritten."""
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
