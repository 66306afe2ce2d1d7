from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The top layer: it may read every lane, and composes what spans them."""

    name = "console"

    def ready(self):
        from django.db.models.signals import post_migrate

        from console import health, heartbeat, order_handlers, policies, preconditions
        from opscore import heartbeat as beats
        from opscore import standing_orders
        from opscore.budgets import LANE_OF_PREFIX, LLM_LANES
        from opscore.policies import SCHEMAS

        SCHEMAS.register_all(policies.POLICIES)
        # thread replies (missions) and the chat: operators type, agents answer
        LLM_LANES.register("talk", (0.3, 0.5))
        LANE_OF_PREFIX.register("chat.", "talk")
        standing_orders.HANDLERS.register_all(order_handlers.BUILTIN_HANDLERS)
        standing_orders.PRECONDITIONS.register_all(preconditions.BUILTIN_PRECONDITIONS)
        beats.compose(heartbeat.DUTIES)
        post_migrate.connect(health.sync_worker_stale_seconds, sender=self)
