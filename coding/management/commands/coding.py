"""`manage.py coding runs [--json]` and `coding cancel ID --reason …`."""

from django.core.management.base import BaseCommand

from coding.models import CodingRun, RunStatus
from coding.runs import transition
from coding.worktrees import clean_up
from opscore.management.commands._json import dump, fail

ENDED = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED]


def row_of(run: CodingRun) -> dict:
    return {
        "id": run.id,
        "repository": run.repository.name,
        "status": run.status,
        "branch": run.branch,
        "iteration": run.iteration,
        "reason": run.reason,
    }


class Command(BaseCommand):
    help = "List coding runs, or cancel one (its uncommitted work is saved first)."

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True)
        runs = verbs.add_parser("runs")
        runs.add_argument("--json", action="store_true")
        cancel = verbs.add_parser("cancel")
        cancel.add_argument("run_id", type=int)
        cancel.add_argument("--reason", required=True)
        cancel.add_argument("--json", action="store_true")

    def handle(self, *args, verb, **opts):
        if verb == "runs":
            recent = CodingRun.objects.select_related("repository").order_by("-id")[:100]
            rows = [row_of(r) for r in recent]
            if opts["json"]:
                return self.stdout.write(dump(rows))
            for r in rows:
                self.stdout.write(f"R{r['id']} {r['repository']} {r['status']} {r['branch']}")
            return None
        return self.cancel(opts)

    def cancel(self, opts):
        run = CodingRun.objects.filter(pk=opts["run_id"]).first()
        if run is None or run.status in ENDED:
            fail(f"no open coding run {opts['run_id']}", as_json=opts["json"])
        if run.worktree_path:
            clean_up(run)  # saves the diff before the worktree goes
        transition(run, RunStatus.CANCELLED, f"cancelled: {opts['reason']}")
        if opts["json"]:
            return self.stdout.write(dump(row_of(run) | {"patch": run.patch_ref}))
        return self.stdout.write(f"R{run.id} cancelled; its diff: {run.patch_ref or 'none'}")
