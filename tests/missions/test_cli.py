import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from missions.execution import claim_next_step
from missions.models import Proposal, Worker
from tests.factories import OperatorFactory, make_step

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_propose_submits_a_human_proposal_through_the_intake(agent):
    output = run(
        "propose",
        "--agent",
        "devops",
        "--title",
        "Disks",
        "--step",
        'crawl:{"url": "https://example.com"}',
        "--step",
        "analyze",
        "--chain",
    )

    proposal = Proposal.objects.get()
    assert proposal.source == "human"
    assert output.startswith(f"P{proposal.id} accepted: mission M")
    assert proposal.proposed_steps[0]["payload"] == {"url": "https://example.com"}
    assert proposal.proposed_steps[1]["depends_on"] == [0]


@pytest.mark.parametrize("who", [["--as", "ann"], []], ids=["named", "login"])
def test_the_person_who_proposed_from_the_cli_cannot_approve_it(agent, monkeypatch, who):
    """Four-eyes held on the Stage but not here: `propose` recorded no author, so the one who
    typed it approved their own deploy with `proposal approve --as` themselves."""
    monkeypatch.setenv("LOGNAME", "ann")  # the account running the command (getpass reads it)
    OperatorFactory(username="ann"), OperatorFactory(username="bob")
    run("propose", "--agent", "devops", "--title", "Ship", "--step", "deploy", *who)
    proposal = Proposal.objects.get()
    assert (proposal.status, proposal.author) == ("pending", "ann")

    with pytest.raises(CommandError, match="ann proposed this; someone else"):
        run("proposal", "approve", str(proposal.id), "--as", "ann")

    assert run("proposal", "approve", str(proposal.id), "--as", "bob").startswith(
        f"P{proposal.id} accepted"
    )


def test_propose_as_nobody_is_refused(agent):
    with pytest.raises(CommandError, match="no active user 'mallory'"):
        run("propose", "--agent", "devops", "--title", "x", "--step", "deploy", "--as", "mallory")
    assert not Proposal.objects.exists()


def test_propose_json_reports_a_rejection(agent):
    agent.enabled = False
    agent.save()

    body = json.loads(
        run("propose", "--agent", "devops", "--title", "x", "--step", "analyze", "--json")
    )

    assert (body["status"], body["rejection_code"]) == ("rejected", "agent_disabled")


def test_propose_bad_payload_is_a_clear_error(agent):
    with pytest.raises(CommandError, match="payload: not valid JSON"):
        run("propose", "--agent", "devops", "--title", "x", "--step", "analyze:{oops")
    assert not Proposal.objects.exists()


@pytest.mark.parametrize(
    "payload, said",
    [
        ('{"note": "a\\u0000b"}', "step 'analyze': payload.note: contains a NUL character"),
        ('{"n": NaN}', "step 'analyze': payload: NaN and Infinity are not numbers JSON allows"),
        ("[" * 40 + "]" * 40, "step 'analyze': payload: nested deeper than 32 levels"),
    ],
)
def test_a_refused_payload_names_its_field_in_a_sentence(agent, payload, said):
    """The refusal read "payload is contains a NUL character (\\u0000)" and named no field: it
    says where, as the API does (`payload.note: contains a NUL character`)."""
    with pytest.raises(CommandError) as refused:
        run("propose", "--agent", "devops", "--title", "x", "--step", f"analyze:{payload}")

    assert said in str(refused.value) and " is contains" not in str(refused.value)
    assert not Proposal.objects.exists()


def test_propose_bad_input_with_json_exits_non_zero_with_a_json_error(agent, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("propose", "--agent", "devops", "--title", "x", "--step", "warp", "--json")

    assert exit_info.value.code == 2
    assert "steps.0.kind" in json.loads(capsys.readouterr().out)["errors"]


def test_status_json_has_queue_depths(agent):
    run("propose", "--agent", "devops", "--title", "x", "--step", "noop")

    status = json.loads(run("status", "--json"))

    assert status["queue"]["depths"]["queued"] == {"noop": 1}
    assert "Oldest queued step" in run("status")


def test_status_names_the_step_each_worker_is_running():
    Worker.objects.create(worker_id="w1", host="h", pid=1)
    Worker.objects.create(worker_id="w2", host="h", pid=2)
    step = make_step()
    claim_next_step("w1")

    workers = json.loads(run("status", "--json"))["workers"]["live"]

    assert {w["worker_id"]: w["current_step"] for w in workers} == {"w1": step.id, "w2": None}
    assert f"running S{step.id}" in run("status")


def test_the_start_banner_names_the_stage_first_and_its_curl_line_works_as_pasted(settings):
    import json as json_module
    import shlex

    from console.management.commands.up import try_command

    settings.OPS_API_TOKEN = "tok'en with spaces and $dollars-0123456789"
    argv = shlex.split(try_command("http://127.0.0.1:8000", settings.OPS_API_TOKEN))

    assert argv[:2] == ["curl", "-H"]
    assert argv[2] == f"Authorization: Bearer {settings.OPS_API_TOKEN}"
    assert json_module.loads(argv[argv.index("-d") + 1])["steps"] == [{"kind": "analyze"}]
    assert argv[-1] == "http://127.0.0.1:8000/api/ops/proposals"
