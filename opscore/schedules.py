"""One django-q2 schedule per enabled standing order, kept in sync by name (idempotent)."""

from django_q.models import Schedule


def order_schedule_name(order_id: int) -> str:
    return f"standing-order:{order_id}"


def sync_order_schedules() -> dict:
    """One django-q2 CRON schedule per enabled standing order, none for the others.

    django-q2 evaluates cron in settings.TIME_ZONE; an order in another zone is fired every
    minute and its task picks the due slot in the order's own zone, so DST never shifts it.
    """
    from django.conf import settings

    from opscore.models import StandingOrder

    wanted = {}
    for order in StandingOrder.objects.filter(enabled=True):
        same_zone = order.timezone == settings.TIME_ZONE
        cron = order.cron if same_zone else "* * * * *"
        wanted[order_schedule_name(order.id)] = (order.id, cron, task_options(order))
    stale = Schedule.objects.filter(name__startswith="standing-order:").exclude(name__in=wanted)
    removed = stale.delete()[0]
    for name, (order_id, cron, options) in wanted.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": "opscore.tasks.fire_standing_order",
                "args": str(order_id),
                "kwargs": options,
                "schedule_type": Schedule.CRON,
                "cron": cron,
                "repeats": -1,
            },
        )
    return {"scheduled": len(wanted), "removed": removed}


def task_options(order) -> str:
    """The order's task's own django-q2 timeout, for a handler whose work is allowed longer than
    the cluster's (Q_CLUSTER["timeout"], 10 min): a backup's pg_dump has an hour. Past the
    cluster's `retry` the broker hands the still-running task out again; that copy finds the
    slot's row taken (`fire` claims each slot once) and ends without a second dump."""
    from opscore.standing_orders import DEADLINES, order_deadline

    if order.handler not in DEADLINES:
        return ""
    return repr({"q_options": {"timeout": int(order_deadline(order).total_seconds())}})
