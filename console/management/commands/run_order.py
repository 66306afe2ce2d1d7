from datetime import timedelta

from console.bootstrap import roster_phase
from opscore.cli import REFUSED, OpsCommand, dump, fail
from opscore.db import db_now
from opscore.models import RunStatus, StandingOrder
from opscore.standing_orders import execute_run, start_run


class Command(OpsCommand):
    help = "Run a standing order now, as a manual slot at the current minute (recorded as usual)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="the order's name, or AGENT/NAME where agents share it")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, name, **opts):
        order = order_named(name, as_json=opts["json"])
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


def order_named(name: str, *, as_json: bool) -> StandingOrder:
    """Names are unique per agent: a name two agents hold is refused, asking which."""
    agent, _, bare = name.rpartition("/")
    orders = StandingOrder.objects.filter(name=bare).select_related("agent").order_by("agent_id")
    found = list(orders.filter(agent_id=agent) if agent else orders[:20])
    if not found:
        fail(missing_order(name), as_json=as_json, code=REFUSED)
    if len(found) > 1:
        holders = ", ".join(order.agent_id for order in found)
        said = f"{bare} names orders of {len(found)} agents ({holders}): say which, as AGENT/{bare}"
        fail(said, as_json=as_json, code=REFUSED)
    return found[0]


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
