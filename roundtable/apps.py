from django.apps import AppConfig


class RoundtableConfig(AppConfig):
    name = "roundtable"

    def ready(self):
        from memory.evidence import EVIDENCE_TYPES

        EVIDENCE_TYPES.register("conversation", "roundtable.Conversation")
