from datetime import timedelta

from django.core.management.base import BaseCommand

from console.bootstrap import roster_phase
from opscore.cli import REFUSED, dump, fail
from opscore.db import db_now
from opscore.models import RunStatus, StandingOrder
from opscore.standing_orders import execute_run, start_run


class Command(BaseCommand):
    help = "Run a standing order now, as a manual slot at the current minute (recorded as usual)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, name, **opts):
        order = StandingOrder.objects.filter(name=name).select_related("agent").first()
        if order is None:
            fail(missing_order(name), as_json=opts["json"], code=REFUSED)
        now = db_now()
        slot = now - timedelta(seconds=now.second, microseconds=now.microsecond)
        run = start_run(order, slot)
        if run is None:
            fail(
                f"{name} already has a run for {slot:%H:%M}; try again next minute",
                as_json=opts["json"],
                code=REFUSED,
            )
        if run.status == RunStatus.STARTED:
            run = execute_run(run)
        body = {
            "run_id": run.id,
            "status": run.status,
            "summary": run.summary,
            "evidence": run.evidence,
        }
        self.stdout.write(dump(body) if opts["json"] else f"{name}: {run.status} — {run.summary}")


def missing_order(name: str) -> str:
    """Say how to get an order the roster has but this install has not bootstrapped yet."""
    phase = roster_phase(name)
    if phase is not None:
        return (
            f"{name} arrives with phase {phase}: run `.venv/bin/opscore bootstrap --phase {phase}` "
            "(it says what an earlier phase still lacks; --force records an override)"
        )
    names = ", ".join(StandingOrder.objects.values_list("name", flat=True)) or "none"
    return f"no standing order named {name!r} (known: {names})"
