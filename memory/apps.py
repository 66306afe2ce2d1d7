from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"

    def ready(self):
        from memory import evidence, orders, override_kinds, retrieval
        from opscore.prompting import CONTEXT_PROVIDERS
        from opscore.standing_orders import HANDLERS

        evidence.EVIDENCE_TYPES.register_all(evidence.BUILTIN)
        CONTEXT_PROVIDERS.register("memory", retrieval.memory_context)
        HANDLERS.register_all(orders.HANDLERS)
        override_kinds.register()
