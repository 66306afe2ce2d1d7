from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"

    def ready(self):
        from memory.evidence import EVIDENCE_TYPES
        from missions.outbox import CHANNELS
        from opportunities import curation, digests, idle, notices, orders
        from opscore.standing_orders import HANDLERS

        EVIDENCE_TYPES.register_all(
            {"idea": "opportunities.Idea", "opportunity": "opportunities.Opportunity"}
        )
        HANDLERS.register_all(orders.HANDLERS)
        HANDLERS.register_all(digests.HANDLERS)
        HANDLERS.register_all(curation.HANDLERS)
        HANDLERS.register_all(idle.HANDLERS)
        CHANNELS.register_all({"email": notices.send_email, "webhook": notices.send_webhook})
