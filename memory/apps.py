from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"

    def ready(self):
        from memory import (
            evidence,
            influence,
            orders,
            override_kinds,
            replay_view,
            retrieval,
            tasks,
            voice,
        )
        from missions import provenance
        from missions.checkers import TOPIC_STEERS
        from opscore.lanes import contribute
        from opscore.prompting import CONTEXT_PROVIDERS, VOICE_MODIFIERS
        from opscore.replay import AS_OF
        from opscore.standing_orders import HANDLERS

        register_edges()
        evidence.EVIDENCE_TYPES.register_all(evidence.BUILTIN)
        evidence.UNTRUSTED_BECAUSE.register_all(provenance.BUILTIN)
        evidence.UNTRUSTED_BECAUSE.register("memory_candidate", candidate_untrusted)
        provenance.STEP_TAINTS.register("memory", evidence.prompt_carried_untrusted)
        CONTEXT_PROVIDERS.register("memory", retrieval.memory_context)
        VOICE_MODIFIERS.register("memory", voice.voice_modifiers)
        AS_OF.register("memory", replay_view.MemoriesThen)
        TOPIC_STEERS.register("memory", influence.steer_topic)
        HANDLERS.register_all(orders.HANDLERS)
        override_kinds.register()
        contribute("memory", handlers=orders.HANDLERS, duties=["promote_insights"])
        contribute("memory", duties=["learn_from_outcomes"])
        contribute("proactive", duties=["enqueue_initiatives"])
        contribute("proactive", loops={"memory.initiatives": tasks.draft_initiatives})


def register_edges():
    """What the lane adds to opscore's own registries: its policies (the frozen switch is the
    overrides'), its LLM budget lane and the purposes that spend it, its agent-bus verbs."""
    from memory import agentbus, policies
    from opscore.budgets import LANE_OF_PREFIX, LLM_LANES
    from opscore.overrides import OWNED
    from opscore.policies import SCHEMAS
    from opscore.registry import AGENTBUS_ACTORS, AGENTBUS_OWNED, AGENTBUS_PARSERS, AGENTBUS_VERBS

    SCHEMAS.register_all(policies.POLICIES)
    OWNED.register("memory_policy", ["frozen", "frozen_reason"])
    LLM_LANES.register("memory", (0.3, 0.5))
    LANE_OF_PREFIX.register("memory.", "memory")
    AGENTBUS_PARSERS.register("memory", agentbus.add_memory_verbs)
    AGENTBUS_VERBS.register_all(agentbus.VERBS)
    AGENTBUS_ACTORS.register_all(agentbus.ACTORS)
    AGENTBUS_OWNED.register_all(agentbus.OWNED)


def candidate_untrusted(candidate_id: int) -> str:
    """A candidate's words are untrusted evidence when they are not Opscore's own: derived from
    untrusted content, or written by an outside runtime (whose own agent alone may learn them)."""
    from memory.models import MemoryCandidate

    found = MemoryCandidate.objects.filter(pk=candidate_id).first()
    return found.not_our_words if found else ""
