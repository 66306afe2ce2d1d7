from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"

    def ready(self):
        from memory import evidence, retrieval
        from opscore.prompting import CONTEXT_PROVIDERS

        evidence.EVIDENCE_TYPES.register_all(evidence.BUILTIN)
        CONTEXT_PROVIDERS.register("memory", retrieval.memory_context)
