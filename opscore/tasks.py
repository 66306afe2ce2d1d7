def fire_standing_order(order_id: int) -> dict:
    from opscore.models import StandingOrder
    from opscore.standing_orders import fire

    order = StandingOrder.objects.filter(pk=order_id, enabled=True).first()
    if order is None:
        return {"order": order_id, "ran": False, "reason": "disabled or deleted"}
    run = fire(order)
    return {"order": order_id, "run": run.id if run else None, "status": run and run.status}


def run_held_orders() -> dict:
    """The slots a paused lane held, run once its pause ends (a timer of its own: they may
    call a model, which the heartbeat never does)."""
    from opscore.standing_orders import run_held_orders as run

    return run()
