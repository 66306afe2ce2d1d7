from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"

    def ready(self):
        from django.core import checks as django_checks

        from memory.evidence import EVIDENCE_TYPES, UNTRUSTED_BECAUSE
        from missions.executors import EXECUTORS
        from missions.outbox import CHANNELS
        from missions.recovery import BLOCKER_CHECKS
        from opportunities import (
            checks,
            curation,
            digests,
            engagement,
            idle,
            notices,
            orders,
            override_kinds,
            publishing,
        )
        from opportunities.channels import ADAPTERS
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
        # Posting: the executor, one outbox channel per network, the blockers that clear
        # themselves (approval given, block lifted, switch lifted), the engagement poll.
        EXECUTORS.register("post_tweet", publishing.run_post_tweet)
        CHANNELS.register_all(dict.fromkeys(ADAPTERS, publishing.deliver_post))
        held = ("channel_approval", "channel_blocked", "channel_stopped")
        BLOCKER_CHECKS.register_all(dict.fromkeys(held, publishing.held_step_cleared))
        HANDLERS.register_all(engagement.HANDLERS)
        override_kinds.register()
        django_checks.register(checks.check_channels)


def idea_untrusted(idea_id: int) -> str:
    from opportunities.models import Idea

    return Idea.objects.filter(pk=idea_id).values_list("untrusted_reason", flat=True).first() or ""


def opp_untrusted(opportunity_id: int) -> str:
    from opportunities.models import Opportunity

    found = Opportunity.objects.filter(pk=opportunity_id)
    return found.values_list("untrusted_reason", flat=True).first() or ""
