from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"

    def ready(self):
        from memory.evidence import EVIDENCE_TYPES, UNTRUSTED_BECAUSE
        from missions.outbox import CHANNELS
        from opportunities import curation, digests, idle, notices, orders
        from opscore.lanes import contribute
        from opscore.standing_orders import HANDLERS

        EVIDENCE_TYPES.register_all(
            {"idea": "opportunities.Idea", "opportunity": "opportunities.Opportunity"}
        )
        UNTRUSTED_BECAUSE.register_all({"idea": idea_untrusted, "opportunity": opp_untrusted})
        HANDLERS.register_all(orders.HANDLERS)
        HANDLERS.register_all(digests.HANDLERS)
        HANDLERS.register_all(curation.HANDLERS)
        HANDLERS.register_all(idle.HANDLERS)
        CHANNELS.register_all({"email": notices.send_email, "webhook": notices.send_webhook})
        proactive = [*orders.HANDLERS, *digests.HANDLERS, *curation.HANDLERS]
        contribute("proactive", handlers=proactive)
        contribute("idle", handlers=idle.HANDLERS)


def idea_untrusted(idea_id: int) -> str:
    from opportunities.models import Idea

    return Idea.objects.filter(pk=idea_id).values_list("untrusted_reason", flat=True).first() or ""


def opp_untrusted(opportunity_id: int) -> str:
    from opportunities.models import Opportunity

    found = Opportunity.objects.filter(pk=opportunity_id)
    return found.values_list("untrusted_reason", flat=True).first() or ""
