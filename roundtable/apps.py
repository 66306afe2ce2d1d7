from django.apps import AppConfig


class RoundtableConfig(AppConfig):
    name = "roundtable"

    def ready(self):
        from memory.evidence import EVIDENCE_TYPES, UNTRUSTED_BECAUSE
        from opscore.budgets import LANE_OF_PREFIX, LLM_LANES
        from opscore.lanes import contribute
        from opscore.overrides import LANE_IN_FLIGHT
        from opscore.policies import SCHEMAS
        from roundtable import distillation, lifecycle, policies, tasks

        SCHEMAS.register_all(policies.POLICIES)
        LLM_LANES.register("roundtable", (0.5, 1.0))
        LANE_OF_PREFIX.register("roundtable.", "roundtable")

        EVIDENCE_TYPES.register("conversation", "roundtable.Conversation")
        UNTRUSTED_BECAUSE.register("conversation", distillation.conversation_untrusted)
        LANE_IN_FLIGHT.register("roundtable", lifecycle.conversations_in_flight)
        contribute(
            "roundtable",
            on=True,
            loops={
                "roundtable.schedule": tasks.schedule_conversations,
                "roundtable.run": tasks.run_next_conversation,
            },
        )
