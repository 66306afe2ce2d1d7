from django.apps import AppConfig


class MemoryConfig(AppConfig):
    name = "memory"

    def ready(self):
        from memory import evidence, influence, orders, override_kinds, retrieval, voice
        from missions.checkers import TOPIC_STEERS
        from opscore.prompting import CONTEXT_PROVIDERS, VOICE_MODIFIERS
        from opscore.standing_orders import HANDLERS

        evidence.EVIDENCE_TYPES.register_all(evidence.BUILTIN)
        CONTEXT_PROVIDERS.register("memory", retrieval.memory_context)
        VOICE_MODIFIERS.register("memory", voice.voice_modifiers)
        TOPIC_STEERS.register("memory", influence.steer_topic)
        HANDLERS.register_all(orders.HANDLERS)
        override_kinds.register()
