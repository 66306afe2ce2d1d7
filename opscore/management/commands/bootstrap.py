import getpass

from django.core.management.base import BaseCommand

from opscore.bootstrap import DEFAULT_ROSTER, BootstrapError, bootstrap
from opscore.management.commands._json import dump, fail


class Command(BaseCommand):
    help = "Bring the company up to a phase from a roster template. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--phase", type=int, required=True)
        parser.add_argument("--roster", default=DEFAULT_ROSTER)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        try:
            report = bootstrap(opts["phase"], opts["roster"], actor=f"operator:{getpass.getuser()}")
        except BootstrapError as error:
            fail(str(error), as_json=opts["json"])
        if opts["json"]:
            self.stdout.write(dump(report.__dict__ | {"changed": report.changed}))
        elif not report.changed:
            self.stdout.write(f"Phase {report.phase} ({report.roster}): already applied.")
        else:
            self.stdout.write(
                f"Phase {report.phase} ({report.roster}): created agents "
                f"{', '.join(report.agents_created) or '-'}; enabled "
                f"{', '.join(report.agents_enabled) or '-'}; seeded policies "
                f"{', '.join(report.policies_seeded) or '-'}."
            )
