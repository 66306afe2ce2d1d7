"""`manage.py mission pause|resume ID --reason …`, `mission note ID TEXT`,
`mission deadline ID WHEN --reason …` (WHEN: 90m, 2h, 3d or an ISO time with its zone).
The same functions serve the admin, the Stage and `POST /api/ops/missions/<id>/<verb>`."""

from missions.actions import DecisionRefused
from missions.mission_control import control_mission, mission_state
from opscore.cli import OpsCommand, add_verbs, dump, fail, whole

ACTOR = "operator:cli"


class Command(OpsCommand):
    help = "Pause, resume, note or give a deadline to one mission — each an event with a reason."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        for verb, what in [("pause", "claim nothing new"), ("resume", "claim again")]:
            sub = verbs.add_parser(verb, help=what)
            sub.add_argument("id", type=whole)
            sub.add_argument("--reason", required=True)
        note = verbs.add_parser("note", help="a note the mission's next prompt carries")
        note.add_argument("id", type=whole)
        note.add_argument("text")
        deadline = verbs.add_parser("deadline", help="past it, open steps fail: timed_out")
        deadline.add_argument("id", type=whole)
        deadline.add_argument("deadline", help="90m, 2h, 3d or 2026-12-03T18:00+00:00")
        deadline.add_argument("--reason", required=True)

    def handle(self, *args, verb, id, **opts):
        as_json = opts.pop("json")
        try:
            mission = control_mission(id, verb, actor=ACTOR, fields=opts)
        except DecisionRefused as refused:
            fail(str(refused), as_json=as_json, code=2)
        state = mission_state(mission)
        if as_json:
            self.stdout.write(dump(state))
            return
        paused = f"paused ({state['pause_reason']})" if state["paused"] else "not paused"
        until = f", deadline {state['deadline_at']}" if state["deadline_at"] else ""
        self.stdout.write(f"M{state['id']} {state['status']}, {paused}{until}: {verb} recorded")
