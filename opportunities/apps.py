from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"

    def ready(self):
        from memory.evidence import EVIDENCE_TYPES
        from opportunities import orders
        from opscore.standing_orders import HANDLERS

        EVIDENCE_TYPES.register_all(
            {"idea": "opportunities.Idea", "opportunity": "opportunities.Opportunity"}
        )
        HANDLERS.register_all(orders.HANDLERS)
