from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Keeping the house standing: backups, retention, restore and its drill, the supervisor.

    It sits beside the lanes (it reads missions for workers and steps, and no lane), so a lane
    never depends on how the house is backed up or supervised, nor the other way round.
    """

    name = "operations"

    def ready(self):
        from operations import backup_orders
        from opscore import standing_orders

        standing_orders.HANDLERS.register_all(backup_orders.HANDLERS)
        standing_orders.DEADLINES.register_all(backup_orders.DEADLINES)
