"""What every prompt carries besides its task: the agent's voice and the context providers'
sections (the memory lane registers one). One function builds it for steps, standing orders,
roundtable turns and distillation alike, and says what it injected."""

from opscore.registry import Registry

# name → provider(agent_slug, context_text) -> (section_text, refs)
CONTEXT_PROVIDERS: Registry = Registry("prompt context provider")


def system_prompt(agent, context: str) -> tuple[str, dict]:
    """The agent's voice plus each provider's delimited section, and what was injected."""
    parts, injected = [agent.voice()], {"voice_version": agent.voice_version()}
    for name in CONTEXT_PROVIDERS.names():
        section, refs = CONTEXT_PROVIDERS[name](agent.slug, context)
        if section:
            parts.append(section)
        injected |= refs
    return "\n\n".join(parts), injected
