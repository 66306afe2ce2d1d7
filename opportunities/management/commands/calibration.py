"""`manage.py calibration show|apply`: each scout's predicted scores against what happened,
and the weight in triage that follows (apply records it, bounded, as a ScoutWeight row)."""

from missions.simulation import SimulationRefused, parse_since
from opportunities.calibration import COLUMNS, calibration_table, recalibrate_scouts
from opportunities.models import ScoutWeight
from opscore.cli import REFUSED, OpsCommand, add_verbs, dump, fail
from opscore.db import db_now


class Command(OpsCommand):
    help = "Per scout: predicted opportunity scores against outcomes, and its weight in triage."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--since", default="90d", help="window: 12h, 30d (default 90d)")
        verbs = add_verbs(parser)
        verbs.add_parser("show", help="each scout's scores against outcomes").add_argument(
            "--scout", help="one scout's slug"
        )
        verbs.add_parser("apply", help="record each scout's new weight (bounded)")

    def handle(self, *args, verb, **opts):
        try:
            since = db_now() - parse_since(opts["since"])
        except SimulationRefused as refused:
            fail(str(refused), as_json=opts["json"], code=REFUSED)
        if verb == "apply":
            rows = recalibrate_scouts(actor="operator:cli", since=since)
            body = [{"scout": r.scout_id, "weight": r.weight, "reason": r.reason} for r in rows]
            text = "\n".join(f"{r['scout']}: {r['reason']}" for r in body) or "no weight moved"
        else:
            body = self.table(since, opts.get("scout"))
            text = readable(body)
        self.stdout.write(dump(body) if opts["json"] else text)

    def table(self, since, scout) -> dict:
        weights = ScoutWeight.objects.current()
        table = calibration_table(since, scout)
        return {slug: entry | {"weight": weights.get(slug, 1.0)} for slug, entry in table.items()}


def readable(body: dict) -> str:
    if not body:
        return "(no opportunities in the window)"
    lines = []
    for slug, entry in body.items():
        lines.append(f"{slug} (weight {entry['weight']})")
        lines.append("  band       " + " ".join(f"{c:>15}" for c in COLUMNS))
        for band, row in [*entry["bands"].items(), ("overall", entry["overall"])]:
            cells = " ".join(f"{'-' if row[c] is None else row[c]!s:>15}" for c in COLUMNS)
            lines.append(f"  {band:<10} {cells}")
    return "\n".join(lines)
