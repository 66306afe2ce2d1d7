"""`opscore goal add|list|show|revise|close|metrics [--json]`: goals above missions, measured by
the ledger's own metrics. The same functions serve the admin, the Stage and the API."""

from missions.goal_metrics import describe
from missions.goal_schemas import GoalInvalid
from missions.goals import (
    add_goal,
    close_goal,
    goal_detail,
    goal_state,
    listed_goals,
    revised,
    unchanged_note,
)
from missions.models import Goal
from missions.models.goals import figure
from missions.text import as_printed
from opscore.cli import OpsCommand, add_verbs, dump, fail, whole

ACTOR = "operator:cli"
TERMS = ("title", "why", "metric", "scope", "target", "direction", "owner", "deadline")


def _terms(parser, *, required: bool) -> None:
    parser.add_argument("--title", required=required)
    parser.add_argument("--why", default=None)
    parser.add_argument("--metric", required=required, help="see `.venv/bin/opscore goal metrics`")
    parser.add_argument("--scope", default=None, help="company (default) or goal")
    parser.add_argument("--target", required=required)
    parser.add_argument("--direction", default=None, help="at_least (default) or at_most")
    parser.add_argument("--owner", required=required, help="the owning agent's slug")
    parser.add_argument("--deadline", required=required, help="30d, 12w, 2027-03-31 or ISO time")


class Command(OpsCommand):
    help = "Goals: add, list, show, revise, close (judged met or not), and the metrics to target."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        _terms(verbs.add_parser("add", help="a new goal (version 1)"), required=True)
        verbs.add_parser("list", help="active goals first, with progress now")
        verbs.add_parser("show", help="one goal: progress, versions, missions").add_argument(
            "id", type=whole
        )
        revise = verbs.add_parser("revise", help="a new version of an active goal's terms")
        revise.add_argument("id", type=whole)
        _terms(revise, required=False)
        revise.add_argument("--reason", required=True)
        close = verbs.add_parser("close", help="measure once more and record met or not")
        close.add_argument("id", type=whole)
        close.add_argument("--reason", required=True)
        verbs.add_parser("metrics", help="the metrics a goal can target")

    def handle(self, *args, verb, **opts):
        as_json = opts.pop("json")
        try:
            data = getattr(self, f"do_{verb}")(opts)
        except GoalInvalid as invalid:
            fail(f"goal {verb} refused", as_json=as_json, errors=invalid.errors, code=2)
        self.stdout.write(dump(data) if as_json else self.text(verb, data))

    @staticmethod
    def given(opts) -> dict:
        return {k: opts[k] for k in TERMS if opts.get(k) is not None}

    def do_add(self, opts):
        return goal_state(add_goal(self.given(opts), actor=ACTOR))

    def do_revise(self, opts):
        """Says when it made no new version (the terms asked for are those in force): the
        reason is kept as a `goal.unchanged` event, but the goal alone read as revised."""
        return revised(opts["id"], self.given(opts), actor=ACTOR, reason=opts["reason"])

    def do_close(self, opts):
        return goal_state(close_goal(opts["id"], actor=ACTOR, reason=opts["reason"]))

    def do_list(self, opts):
        goals, total = listed_goals()
        return {"goals": [goal_state(g) for g in goals], "total": total}

    def do_show(self, opts):
        goal = Goal.objects.filter(pk=opts["id"]).first()
        if goal is None:
            raise GoalInvalid({"id": [f"no goal {opts['id']}"]})
        return goal_detail(goal)

    def do_metrics(self, opts):
        return {"metrics": describe()}

    @staticmethod
    def line(state: dict) -> str:
        verdict = state["verdict"]
        if state["met"] is None:
            verdict = f"{state['progress']:.0%}, {verdict}"
        return (
            f"G{state['id']} v{state['version']} [{state['status']}] {state['title']}: "
            f"{state['metric']} {figure(state['value'])} / {figure(state['target'])} "
            f"({state['direction']}, "
            f"{verdict}), due {state['due']}, owner {state['owner']}"
        )

    def text(self, verb: str, data: dict) -> str:
        if verb == "metrics":
            return "\n".join(f"{m['name']}: {m['label']} ({m['unit']})" for m in data["metrics"])
        if verb == "list":
            lines = [self.line(s) for s in data["goals"]] or ["no goals"]
            if data["total"] > len(data["goals"]):
                lines.append(
                    f"The first {len(data['goals'])} of {data['total']} goals (active first, "
                    "by deadline); the admin's Goals page lists them all."
                )
            return "\n".join(lines)
        out = [self.line(data)]
        if data.get("unchanged"):
            out.append(unchanged_note(data["id"], data["version"]))
        if verb == "show":
            out.append(f"why: {as_printed(data['why']) or '-'}")
            out.append(f"missions: {data['missions_by_status'] or 'none yet'}")
            out += [
                f"v{v['version']} {v['changed_by']}: {as_printed(v['reason'])}"
                for v in data["versions"]
            ]
        return "\n".join(out)
