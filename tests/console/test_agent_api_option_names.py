"""An agent-bus error names the option at fault as its caller spelled it: the JSON key over
HTTP (`lease_seconds`), the flag on the command line (`--lease-seconds`), in the message and as
the key of `errors`."""

import json

import pytest
from django.core.management import call_command

from console.agent_mcp import call as mcp_call
from console.models import AgentToken
from missions.models import Step
from opscore.models import Runtime
from tests.console.test_agent_api import call
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(db):
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=5)
    return AgentToken.issue(outside, "vps", actor="test")[1]


@pytest.fixture
def job(client, secret) -> dict:
    call(client, secret, "enqueue-job", target_agent="openclaw-ops", subject="job", kind="noop")
    return call(client, secret, "claim-jobs")["jobs"][0]


def held(job, **more) -> dict:
    return {"job_id": job["id"], "lease_token": job["lease_token"], **more}


CASES = {
    "renew-job-lease": lambda job: ("lease_seconds", held(job, lease_seconds=0)),
    "mark-running-job": lambda job: ("lease_token", held(job, lease_token="nope")),
    "claim-jobs": lambda job: ("limit", {"limit": 0}),
    "complete-job": lambda job: ("result", held(job, result="[1]")),
    "block-job": lambda job: ("blocked_reason", held(job, blocked_reason="r" * 501)),
    "emit-event": lambda job: ("topic", {"topic": "Not.Dotted"}),
    "enqueue-job": lambda job: (
        "payload",
        {"target_agent": "openclaw-ops", "subject": "x", "payload": "{"},
    ),
}


@pytest.mark.parametrize("verb", CASES)
def test_over_http_an_error_names_the_json_key_sent(client, secret, job, verb):
    key, body = CASES[verb](job)

    answer = call(client, secret, verb, status=400, **body)

    assert answer["error"].startswith(f"{key}: ") and "--" not in answer["error"]
    assert list(answer["errors"]) == [key]


def test_over_http_a_missing_option_is_named_by_its_json_key(client, secret):
    answer = call(client, secret, "enqueue-job", status=400, target_agent="openclaw-ops")

    assert "subject" in answer["error"] and "--" not in answer["error"]
    assert answer["errors"] == {"subject": ["required"]}


def test_on_the_command_line_the_same_error_names_the_flag(client, secret, job, capsys):
    renew = ["renew-job-lease", str(job["id"]), "--lease-token", job["lease_token"]]

    with pytest.raises(SystemExit):
        call_command("agentbus", *renew, "--lease-seconds", "0")

    said = json.loads(capsys.readouterr().out)
    assert said["error"] == "--lease-seconds: must be between 1 and 86400"
    assert list(said["errors"]) == ["--lease-seconds"]
    assert Step.objects.get(pk=job["id"]).status == "running"


def test_an_enqueued_subject_too_long_is_reported_under_subject(client, secret, capsys):
    answer = call(
        client, secret, "enqueue-job", status=400, target_agent="openclaw-ops", subject="s" * 201
    )
    with pytest.raises(SystemExit):
        call_command(
            "agentbus", "enqueue-job", "--target-agent", "openclaw-ops", "--subject", "s" * 201
        )

    assert list(answer["errors"]) == ["subject"]
    assert list(json.loads(capsys.readouterr().out)["errors"]) == ["--subject"]
    assert not Step.objects.exists()


OPPORTUNITY = {
    **dict.fromkeys(("theme", "title", "suggested_next_step", "why_now"), "t"),
    **dict.fromkeys(("confidence_score", "urgency_score"), 3),
    "reversibility": "high",
}


def on_the_command_line(capsys, *argv) -> dict:
    from django.core.management import execute_from_command_line

    with pytest.raises(SystemExit):
        execute_from_command_line(["manage.py", "agentbus", *argv])
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "verb, body, key",
    [
        ("triage-opportunity", {"opportunity_id": 1, "decision": "bogus"}, "decision"),
        ("create-opportunity", {**OPPORTUNITY, "impact_score": 9}, "impact_score"),
    ],
)
def test_over_http_and_mcp_an_error_argparse_raises_names_the_json_key(
    client, secret, verb, body, key
):
    answer = call(client, secret, verb, status=400, **body)
    tool = mcp_call(secret, verb, body)

    for said in (answer, tool):
        assert said["error"].startswith(f"{key}: invalid choice") and "--" not in said["error"]
        assert list(said["errors"]) == [key]


def test_on_the_command_line_an_invalid_choice_names_the_flag(capsys):
    triage = ["triage-opportunity", "--opportunity-id", "1", "--reviewer", "agent:lead"]

    said = on_the_command_line(capsys, *triage, "--decision", "bogus")

    assert "--decision" in said["error"] and "invalid choice" in said["error"]


def test_a_time_that_is_not_iso_names_its_option_on_each_surface(client, secret, capsys):
    job = {"target_agent": "openclaw-ops", "subject": "x", "kind": "noop"}

    answer = call(client, secret, "enqueue-job", status=400, **job, run_after="tomorrow")
    argv = ["enqueue-job", "--target-agent", "openclaw-ops", "--subject", "x", "--kind", "noop"]
    with pytest.raises(SystemExit):
        call_command("agentbus", *argv, "--run-after", "tomorrow")
    said = json.loads(capsys.readouterr().out)

    assert answer["error"] == "run_after: not an ISO-8601 time: 'tomorrow'"
    assert list(answer["errors"]) == ["run_after"]
    assert said["error"] == "--run-after: not an ISO-8601 time: 'tomorrow'"
    assert list(said["errors"]) == ["--run-after"]
    assert not Step.objects.exists()
