"""`manage.py coding runs [--json]`, `coding show ID`, `coding cancel ID`,
`coding approve ID --kind … --as USER [--digest D]`, `coding retry ID`, `coding revise ID
--notes …`, `coding register NAME PATH …`, `coding submit …`, `coding doctor [--json]` and
`coding drive`."""

import shlex
from textwrap import shorten

from django.core.exceptions import ValidationError

from coding import operations, sandbox
from coding.actions import RunRefused
from coding.approvals import ApprovalRefused, already_approved, shown_for_approval
from coding.driver import drive_for, handle_one_run, wip
from coding.hardened_git import GitFailed
from coding.jobs import job_proposal
from coding.models import ApprovalKind, CodingRun, Repository
from coding.repositories import check_repository
from missions.actions import submit_proposal
from missions.schemas import ProposalInvalid
from missions.text import reveal_invisible
from opscore.cli import (
    REFUSED,
    SESSION_SECONDS,
    OpsCommand,
    add_verbs,
    cli_author,
    dump,
    fail,
    login_name,
    whole,
)
from opscore.four_eyes import deciding_user
from opscore.models import Event


def row_of(run: CodingRun) -> dict:
    return {
        "id": run.id,
        "repository": run.repository.name,
        "runner": run.runner,
        "mode": run.mode,
        "status": run.status,
        "branch": run.branch,
        "head_sha": run.head_sha,
        "iteration": run.iteration,
        "cost_usd": str(run.cost_usd),
        "reason": run.reason,
        "patch": run.patch_ref,
        "state_ref": run.state_ref,
        "approvals": sorted(a.kind for a in run.approvals.standing().filter(sha=run.head_sha)),
    }


def sandbox_notes(run_ids: list[int]) -> dict:
    """What the sandbox refused or killed, by run (its `coding.run.sandbox` events)."""
    events = Event.objects.filter(kind="coding.run.sandbox", payload__run_id__in=run_ids)
    found = {}
    for payload, summary in events.order_by("id").values_list("payload", "summary"):
        found.setdefault(payload["run_id"], []).append(summary)
    return found


def cli_user() -> str:
    """Who approved from a terminal: the account that ran the command."""
    return f"cli:{login_name()}"


ON_A_RUN = {
    "show": "one run: its state, checks and change",
    "cancel": "stop a run and its work",
    "retry": "queue a blocked, failed or cancelled run again",
    "approve": "approve a run's code, merge, deploy or production config",
    "revise": "send a run back for another pass, with notes",
}


class Command(OpsCommand):
    help = (
        "Coding runs: list, cancel, approve, retry, revise; register a repository; submit a "
        "dev job."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="answer in JSON (any verb)")
        verbs = add_verbs(parser)
        verbs.add_parser("runs", help="the latest coding runs")
        for name in ("show", "cancel", "retry", "approve", "revise"):
            verbs.add_parser(name, help=ON_A_RUN[name]).add_argument("run_id", type=whole)
        verbs.choices["cancel"].add_argument("--reason", default="cancelled from the CLI")
        add_approve(verbs.choices["approve"])
        verbs.choices["revise"].add_argument(
            "--notes", required=True, help="what the next pass should change or check"
        )
        add_register(verbs.add_parser("register", help="add a git repository runs may change"))
        add_submit(verbs.add_parser("submit", help="a dev job for an agent, through the intake"))
        verbs.add_parser("doctor", help="can this machine run the coding harness, confined?")
        drive = verbs.add_parser("drive", help="run queued coding work until stopped (or --once)")
        drive.add_argument("--once", action="store_true", help="drive one unit of work, then stop")
        drive.add_argument("--seconds", type=SESSION_SECONDS, default=3600)

    def handle(self, *args, verb, **opts):
        if verb == "runs":
            return self.runs(opts)
        if verb in ("cancel", "retry", "approve"):
            return self.act(verb, opts)
        return getattr(self, verb)(opts)

    def say(self, opts, data, text):
        self.stdout.write(dump(data) if opts.get("json") else text)

    def runs(self, opts):
        recent = CodingRun.objects.select_related("repository").order_by("-id")[:100]
        notes = sandbox_notes([r.id for r in recent])
        rows = [row_of(r) | {"sandbox": notes.get(r.id, [])} for r in recent]
        now = wip()
        queued = ", ".join(f"{n} for {repo}" for repo, n in now["queued"].items()) or "none"
        lines = [f"running {now['running']} of {now['limit']}; queued: {queued}"] + [
            f"R{r['id']} {r['repository']} {r['status']} pass {r['iteration']} "
            f"${r['cost_usd']} {r['branch'] or ''} {r['state_ref']} {brief(r['reason'])}"
            for r in rows
        ]
        self.say(opts, rows, "\n".join(lines))

    def act(self, verb, opts):
        run, given = run_named(opts), None
        try:
            if verb == "cancel":
                run = operations.cancel(run, opts["reason"], actor="cli")
            elif verb == "retry":
                run = operations.retry(run, actor="cli")
            else:
                given = approve_as(run, opts)
        except (RunRefused, ApprovalRefused) as refused:
            fail(str(refused), as_json=opts["json"], code=REFUSED)
        except GitFailed as failed:  # git broke, not the caller's request: a failure, exit 1
            fail(str(failed), as_json=opts["json"])
        run.refresh_from_db()
        said = f"R{run.id} {run.status}: {run.reason}"
        if given:
            approval, new = given
            done = f"R{run.id}: {opts['kind']} approved at {run.head_sha[:10]}"
            said = f"{done if new else already_approved(approval)}; now {said}"
        self.say(opts, row_of(run), said)

    def show(self, opts):
        """What an approval of the run binds, whole, with the digest that approves only it."""
        run = run_named(opts)
        try:
            shown = shown_for_approval(run)
        except (ApprovalRefused, GitFailed) as refused:
            fail(str(refused), as_json=opts["json"], code=REFUSED)
        text = reveal_invisible("\n".join(shown_lines(run, shown)))  # no terminal tricks
        self.say(opts, row_of(run) | shown, text)

    def revise(self, opts):
        """Back for one more pass with the operator's notes; a refusal is a rule saying no
        (exit 2), recorded as a `coding.revision_refused` event."""
        run = run_named(opts)
        try:
            run = operations.revise(run, opts["notes"], by=cli_user())
        except RunRefused as refused:
            fail(str(refused), as_json=opts["json"], code=REFUSED)
        self.say(opts, row_of(run), f"R{run.id} {run.status}: {run.reason}")

    def register(self, opts):
        repo = Repository.objects.filter(name=opts["name"]).first() or Repository(name=opts["name"])
        repo.path, repo.allowed_base_refs = opts["path"], opts["base"] or ["main"]
        try:
            repo.test_command, repo.lint_command = split(opts, "test"), split(opts, "lint")
        except ValidationError as invalid:
            fail(
                "the repository was not registered",
                as_json=opts["json"],
                errors=invalid.message_dict,
                code=REFUSED,
            )
        repo.runners, repo.max_concurrent_runs = opts["runner"] or ["command"], opts["max_runs"]
        try:
            check_repository(repo)
        except ValidationError as invalid:
            fail(
                "the repository was not registered",
                as_json=opts["json"],
                errors=invalid.message_dict,
                code=REFUSED,
            )
        repo.save()
        self.say(opts, {"name": repo.name, "path": repo.path}, f"registered {repo.name}")

    def submit(self, opts):
        """A dev job through the intake, authored by whoever --as names, else the account
        running the command (as `propose`): the author may not approve it (four eyes)."""
        name, author = cli_author(opts["username"], as_json=opts["json"])
        by = {"cause_ref": f"cli:{name}", "proposed_by": f"cli:{name}", "operator": author}
        try:
            result = submit_proposal(job_proposal(opts), source="human", **by)
        except ProposalInvalid as invalid:
            fail(
                "the dev job was refused",
                as_json=opts["json"],
                errors=invalid.errors,
                code=REFUSED,
            )
        proposal = result.proposal
        next_step = proposal.reason or "approve it in the admin (Proposals) or the Stage inbox"
        text = f"proposal {proposal.id} {proposal.status}: {next_step}"
        self.say(opts, {"proposal": proposal.id, "status": proposal.status}, text)

    def doctor(self, opts):
        """Which confinement this machine gives a harness, and what is missing and why."""
        found = sandbox.doctor()
        lines = [
            f"coding runs here: {found['runs']}"
            + (f" — {found['missing']}" * bool(found["missing"]))
        ]
        for name, item in found["features"].items():
            extra = {k: v for k, v in item.items() if k not in ("ok", "why")}
            state = "ok" if item["ok"] else f"MISSING: {item['why']}"
            lines.append(f"  {name}: {state} {extra or ''}".rstrip())
        self.say(opts, found, "\n".join(lines))

    def drive(self, opts):
        if opts["once"]:
            moved = "1 run moved" if handle_one_run() else "nothing to move"
        else:
            moved = f"stopped after {drive_for(opts['seconds'])} run move(s)"
        self.stdout.write(f"coding driver: {moved} (merged, adopted or driven to rest)")


def shown_lines(run: CodingRun, shown: dict) -> list[str]:
    task = shown["task"]
    lines = [
        f"R{run.id} {run.status}: {run.reason}",
        f"{run.repository.name} {run.branch}: {run.base_sha[:10]}..{run.head_sha[:10]}"
        f" (base {run.base_ref})",
        f"task: {task.get('summary', '')}",
        f"  problem: {task.get('problem_statement', '')}",
        f"  accept: {'; '.join(task.get('acceptance_criteria', []))}",
        f"  constraints: {dump(task.get('constraints', {}))}",
        f"harness: {shown['harness']['runner']} ({shown['harness']['mode']}); caps: "
        f"{dump(shown['caps'])}",
        f"checks (a merge runs them on the merged head): {dump(shown['checks'])}",
    ]
    if shown["deploy_plan"]:
        lines.append(f"deploy plan: {dump(shown['deploy_plan'])}")
    lines += ["--- the change, whole (a secret reads [redacted]) ---", shown["diff"].rstrip()]
    lines += [f"--- the last pass's tests (pass row {shown['test_run']}) ---", shown["tests"]]
    lines.append("approve it as a person holding the kind's permission, not the job's author:")
    for kind, digest in shown["digests"].items():
        why = shown["why_not"][kind]
        then = f"not now: {why}" if why else f"--kind {kind} --digest {digest} --as USER"
        lines.append(
            f"  {kind}: {then}" if why else f"  .venv/bin/opscore coding approve {run.id} {then}"
        )
    return lines


def add_approve(parser):
    parser.add_argument("--kind", required=True, choices=ApprovalKind.values)
    parser.add_argument("--as", dest="username", required=True, help="who decides")
    parser.add_argument("--digest", help="approve only if `coding show` still prints this one")
    parser.add_argument("--note", default="")


def approve_as(run: CodingRun, opts: dict):
    """A named person's approval, four-eyes as in the admin (their permission for the kind,
    never the job's author), of what `coding show` printed when `--digest` names it."""
    user = deciding_user(opts["username"])
    if user is None:
        raise ApprovalRefused(f"no active user {opts['username']!r}")
    seen = {"user": user, "shown_digest": opts["digest"]}
    return operations.approve_run(
        run, opts["kind"], by=user.get_username(), note=opts["note"], **seen
    )


def run_named(opts: dict, code: int = REFUSED) -> CodingRun:
    run = CodingRun.objects.filter(pk=opts["run_id"]).first()
    if run is None:
        fail(f"no coding run {opts['run_id']}", as_json=opts["json"], code=code)
    return run


def add_register(parser):
    parser.add_argument("name")
    parser.add_argument("path")
    parser.add_argument("--base", action="append", help="an allowed base ref (repeatable)")
    parser.add_argument("--test", default="", help='test command, e.g. "python -m pytest"')
    parser.add_argument("--lint", default="")
    parser.add_argument("--runner", action="append", help="an allowed runner (repeatable)")
    parser.add_argument("--max-runs", type=whole, default=1)


def add_submit(parser):
    parser.add_argument("--agent", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--summary", required=True)
    parser.add_argument("--problem", required=True)
    parser.add_argument("--accept", action="append", required=True, help="a criterion (repeatable)")
    parser.add_argument("--accept-command", action="append", default=[], metavar="TEXT=ARGV")
    parser.add_argument("--base", default="")
    parser.add_argument("--runner", default="command")
    parser.add_argument("--mode", default="ralph-loop", choices=["single-shot", "ralph-loop"])
    parser.add_argument("--allow-merge", action="store_true")
    parser.add_argument("--max-changed-files", type=whole, default=12)
    parser.add_argument(
        "--as",
        dest="username",
        help="who proposes (default: the account running the command); not its approver",
    )


def split(opts: dict, name: str) -> list[str]:
    """A command line as the shell would cut it; unbalanced quotes are bad input."""
    try:
        return shlex.split(opts[name]) if opts[name] else []
    except ValueError as error:
        raise ValidationError({name: [f"not a command line: {error}"]}) from None


def brief(reason: str) -> str:
    """A run's reason on its one line: whole, or cut between words, saying so."""
    return shorten(reason, 160, placeholder=" …")
