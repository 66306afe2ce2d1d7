"""`manage.py replay mission ID` / `replay conversation ID` [--live] [--json]: re-run it against
its record — offline, $0, nothing written but the ReplayRun — and say where today's code
diverges, call by call. Exit 0 identical, 1 diverged or stopped, 2 bad input or missing calls."""

from missions.models import Mission
from missions.replay import replay_mission
from opscore.cli import OpsCommand, add_verbs, dump, fail, whole
from opscore.llm_wire import one_line
from opscore.models import ReplayOutcome, ReplayRun
from opscore.redaction import redact_text
from opscore.replay import readable
from roundtable.models import Conversation
from roundtable.replay import replay_conversation

SUBJECTS = {
    "mission": (replay_mission, Mission.DoesNotExist),
    "conversation": (replay_conversation, Conversation.DoesNotExist),
}


def broke_off(subject: str, subject_id: int, error: Exception) -> str:
    """One line for a replay today's code broke off: why, and the failed ReplayRun it kept
    (opscore.replay keeps one, with what it spent and the calls compared so far)."""
    kept = ReplayRun.objects.filter(
        subject=subject, subject_id=subject_id, outcome=ReplayOutcome.FAILED
    ).last()
    why = one_line(redact_text(f"{type(error).__name__}: {error}".rstrip(": ")), 300)
    run = f"; kept as replay run {kept.id} (failed)" if kept else ""
    return f"the replay of {subject} {subject_id} broke off: {why}{run}"


class Command(OpsCommand):
    help = "Replay a mission or conversation from its recorded model calls and report divergence."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--live", action="store_true", help="re-ask the configured provider (costs money)"
        )
        verbs = add_verbs(parser, dest="subject")
        for subject in SUBJECTS:
            verbs.add_parser(subject, help=f"replay one {subject}").add_argument("id", type=whole)

    def handle(self, *args, subject, id, **opts):
        as_json, (run_replay, unknown) = opts["json"], SUBJECTS[subject]
        try:
            run = run_replay(id, live=opts["live"], actor="operator:cli")
        except unknown:
            fail(f"no {subject} {id}", as_json=as_json, code=2)
        except Exception as error:  # today's code raised in the re-run: say so, not a traceback
            fail(broke_off(subject, id, error), as_json=as_json, code=1)
        self.stdout.write(dump(run.report | {"replay_run": run.id}) if as_json else readable(run))
        if run.outcome == ReplayOutcome.MISSING:
            raise SystemExit(2)
        if run.outcome != ReplayOutcome.IDENTICAL:
            raise SystemExit(1)
