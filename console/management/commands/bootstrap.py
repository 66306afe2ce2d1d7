from console.bootstrap import bootstrap
from console.phases import check_phase
from console.roster import DEFAULT_ROSTER, BootstrapError
from opscore.cli import REFUSED, OpsCommand, actor_name, dump, fail, login_name, whole


class Command(OpsCommand):
    help = "Bring the company up to a phase (safe to re-run), or --check a phase's exit criteria."

    def add_arguments(self, parser):
        parser.add_argument("--phase", type=whole, required=True)
        parser.add_argument(
            "--roster",
            default=None,
            help=f"roster template (default: the one installed, else {DEFAULT_ROSTER})",
        )
        parser.add_argument("--check", action="store_true", help="evaluate exit criteria only")
        parser.add_argument("--force", action="store_true", help="start despite a closed gate")
        parser.add_argument("--operator", default=login_name())
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        opts["operator"] = actor_name("--operator", opts["operator"])  # events' actor
        if opts["check"]:
            return self.check_criteria(opts["phase"], opts["json"])
        try:
            report = bootstrap(
                opts["phase"],
                opts["roster"],
                actor=f"operator:{opts['operator']}",
                force=opts["force"],
            )
        except BootstrapError as error:  # no such phase or roster, or the gate is closed
            fail(str(error), as_json=opts["json"], code=REFUSED)
        if opts["json"]:
            self.stdout.write(dump(report.__dict__ | {"changed": report.changed}))
        elif not report.changed:
            self.stdout.write(f"Phase {report.phase} ({report.roster}): already applied.")
        else:
            self.stdout.write(
                f"Phase {report.phase} ({report.roster}): created agents "
                f"{', '.join(report.agents_created) or '-'}; enabled "
                f"{', '.join(report.agents_enabled) or '-'}; seeded policies "
                f"{', '.join(report.policies_seeded) or '-'}; created orders "
                f"{', '.join(report.orders_created) or '-'}."
            )
        if report.agents_held and not opts["json"]:
            held = ", ".join(report.agents_held)
            self.stdout.write(
                f"Left disabled while their override is in force (up once lifted): {held}."
            )

    def check_criteria(self, phase: int, as_json: bool):
        try:
            criteria = check_phase(phase)
        except ValueError as error:
            fail(str(error), as_json=as_json, code=REFUSED)
        if as_json:
            self.stdout.write(dump([c.__dict__ for c in criteria]))
        else:
            for c in criteria:
                self.stdout.write(f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}")
                if c.how:
                    self.stdout.write(f"      to pass: {c.how}")
        if not all(c.passed for c in criteria):
            raise SystemExit(1)
