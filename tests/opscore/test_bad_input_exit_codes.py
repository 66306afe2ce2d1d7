"""Bad input on the command line is refused the house way: exit 2 (`opscore.cli.REFUSED`) and
one line on stderr saying why — never exit 1, which says a command ran and failed, and never
a traceback."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from console.models import ChatMessage
from missions.models import Comment
from opscore.actions import set_policy
from opscore.cli import main
from opscore.models import StandingOrder
from roundtable.models import Conversation
from tests.coding_support import new_run
from tests.factories import AgentFactory, make_step

pytestmark = pytest.mark.django_db

DEV_JOB = ["--summary=s", "--problem=p", "--accept=a"]
BAD = [
    ["export_vault", "--root", "/proc/nope"],
    ["propose", "--agent", "nosuch", "--title", "x", "--step", "analyze:{}"],
    ["propose", "--agent", "devops", "--title", "x", "--step", "analyze:{bad"],
    ["agent_token", "issue", "bad slug!", "--name", "vps", "--create"],
    ["agent_token", "revoke", "99999999999999999999"],
    ["converse", "--format", "nosuch", "--agents", "devops", "--topic", "t"],
    ["run_order", "nosuch"],
    ["coding", "register", "demo", "/nonexistent"],
    ["coding", "cancel", "99999999"],
    ["coding", "submit", "--agent=devops", "--repo=nope", *DEV_JOB],
    ["backup", "--dir", "/proc/nope"],
    ["bootstrap", "--phase", "9"],
    ["bootstrap", "--phase", "9", "--check"],
    ["bootstrap", "--phase", "1", "--roster", "nope"],
    ["bootstrap", "--phase", "1", "--roster", "r" * 300],  # longer than a file name may be
    ["bootstrap", "--phase", "2"],  # phase 1's exit criteria fail: the gate is closed
    ["bootstrap", "--phase", "2", "--force", "--operator", "o" * 150],  # longer than an actor
    ["record-metrics", "--post", "nope", "--impressions", "1", "--engagements", "1"],
    ["simulate-policy", "content_policy", "--value", "/nonexistent"],
    ["simulate-policy", "content_policy", "--value", "/dev/null"],
    ["calibration", "show", "--since", "ever"],
    ["agent_mcp", "--token-env", "OPS_NO_SUCH_TOKEN"],
    ["channels", "approve", "x", "--actor", "a" * 151],  # longer than an event's actor
    ["nosuchverb"],
    ["help", "nosuchverb"],
    ["--json"],  # flags, and no command for them
]


@pytest.mark.parametrize("words", BAD, ids=lambda words: " ".join(words)[:40])
def test_bad_input_exits_2_with_one_line(words, capsys, settings):
    settings.SILENCED_SYSTEM_CHECKS = ["opscore.W001", "opscore.W002", "opscore.W003"]
    with pytest.raises(SystemExit) as refused:
        main(["opscore", *words])

    said = capsys.readouterr().err.strip()
    assert refused.value.code == 2, said
    first, *fields = said.splitlines()  # a field's error may follow, indented (cli.fail)
    assert first and "Traceback" not in said, said
    assert all(line.startswith("  ") for line in fields), said


def refusal(*words) -> CommandError:
    """What a command that refuses the state it finds raises (the exit code rides on it)."""
    with pytest.raises(CommandError) as refused:
        call_command(*words, stdout=StringIO())
    return refused.value


def test_converse_while_the_roundtable_lane_is_paused_exits_2(crew):
    set_policy("lane_switches", {"lanes": {"roundtable": False}}, actor="test", reason="quiet")

    refused = refusal(
        "converse", "--format", "debate", "--agents", "devops,security", "--topic", "x"
    )

    assert refused.returncode == 2 and "\n" not in str(refused)
    assert str(refused).startswith("lane roundtable paused")
    assert not Conversation.objects.exists()


def test_run_order_twice_in_one_minute_exits_2(agent, clock):
    clock.freeze(datetime(2026, 3, 2, 10, 15, 5, tzinfo=UTC))
    order = StandingOrder.objects.create(
        agent=agent, name="devops-health", cron="* * * * *", handler="health_check"
    )
    call_command("run_order", "devops-health", stdout=StringIO())

    refused = refusal("run_order", "devops-health")

    assert refused.returncode == 2 and "\n" not in str(refused)
    assert str(refused) == "devops-health already has a run for 10:15; try again next minute"
    assert order.runs.count() == 1


def test_run_order_of_a_name_two_agents_hold_asks_which_and_runs_the_one_named(agent, clock):
    """Order names are unique per agent: `run_order devops-health` ran whichever came first."""
    clock.freeze(datetime(2026, 3, 2, 10, 15, 5, tzinfo=UTC))
    other = AgentFactory(slug="security")
    for owner in (agent, other):
        StandingOrder.objects.create(
            agent=owner, name="devops-health", cron="* * * * *", handler="health_check"
        )

    refused = refusal("run_order", "devops-health")
    call_command("run_order", "security/devops-health", stdout=StringIO())

    assert refused.returncode == 2
    assert str(refused) == (
        "devops-health names orders of 2 agents (devops, security): say which, as "
        "AGENT/devops-health"
    )
    ran = StandingOrder.objects.filter(runs__isnull=False).values_list("agent_id", flat=True)
    assert list(ran) == ["security"]


@pytest.mark.parametrize("verb", [["retry"], ["approve", "--kind", "code", "--as", "ana"]])
def test_a_coding_run_that_cannot_do_as_asked_exits_2(git_repo, verb):
    from django.contrib.auth.models import User

    User.objects.create_superuser("ana", password="pw-123456789")
    run = new_run(git_repo, "@hello")  # queued: nothing to retry, no commit to approve

    refused = refusal("coding", verb[0], str(run.id), *verb[1:])

    assert refused.returncode == 2 and str(refused).startswith(f"R{run.id} ")
    run.refresh_from_db()
    assert run.status == "queued" and not run.approvals.exists()


@pytest.mark.parametrize(
    "words", [["chat", "ask", "hi"], ["thread", "comment", "mission", "M", "hi"]]
)
def test_a_talker_named_longer_than_an_actor_exits_2_before_anything_is_written(agent, words):
    mission = make_step("analyze", agent=agent).mission_id
    words = [str(mission) if w == "M" else w for w in words]

    refused = refusal(*words, "--as", "o" * 150)

    assert refused.returncode == 2 and str(refused) == "--as: 1 to 141 characters (150 given)"
    assert not Comment.objects.exists() and not ChatMessage.objects.exists()


@pytest.mark.parametrize(
    "words", [["export_vault", "--root", ""], ["backup", "--dir", " "], ["backup", "--dir", ""]]
)
def test_an_empty_path_is_refused_not_read_as_the_current_directory(words, tmp_path, monkeypatch):
    """`--root "$VAULT"` with the variable unset: Path('') is '.', and the vault (or a dump and
    its retention) landed wherever the operator stood."""
    monkeypatch.chdir(tmp_path)

    refused = refusal(*words)

    assert refused.returncode == 2 and "\n" not in str(refused)
    assert str(refused).startswith(f"{words[1]}: an empty path")
    assert not list(tmp_path.iterdir())
