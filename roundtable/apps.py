from django.apps import AppConfig


class RoundtableConfig(AppConfig):
    name = "roundtable"

    def ready(self):
        from memory.evidence import EVIDENCE_TYPES
        from opscore.lanes import contribute
        from opscore.overrides import LANE_IN_FLIGHT
        from roundtable import lifecycle, tasks

        EVIDENCE_TYPES.register("conversation", "roundtable.Conversation")
        LANE_IN_FLIGHT.register("roundtable", lifecycle.conversations_in_flight)
        contribute(
            "roundtable",
            loops={
                "roundtable.schedule": tasks.schedule_conversations,
                "roundtable.run": tasks.run_next_conversation,
            },
        )
