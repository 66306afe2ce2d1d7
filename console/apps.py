from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The top layer: it may read every lane, and composes what spans them."""

    name = "console"

    def ready(self):
        from console import heartbeat, order_handlers, preconditions
        from opscore import heartbeat as beats
        from opscore import standing_orders

        standing_orders.HANDLERS.register_all(order_handlers.BUILTIN_HANDLERS)
        standing_orders.PRECONDITIONS.register_all(preconditions.BUILTIN_PRECONDITIONS)
        beats.compose(heartbeat.DUTIES)
