"""A reason an outside runtime gives — a job's block (`block-job --blocked-reason`), a triage's
notes (`triage-opportunity --notes`) — is held to the rule every reason is, over every agent
transport (opscore.text.checked_reason): kept without the characters that hide or reorder text,
refused past 500 characters, naming the option, with nothing written. It was stored as sent:
a block could say nothing visible, or megabytes that the Stage and the admin then rendered."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from console.models import AgentToken
from missions.models import Step
from opportunities.models import Opportunity
from opscore.models import Runtime
from tests.console.test_agent_api import call
from tests.factories import AgentFactory, make_opportunity

pytestmark = pytest.mark.django_db
PAST_500 = "at most 500 characters"


@pytest.fixture
def secret(db):
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL)
    return AgentToken.issue(outside, "vps", actor="test")[1]


@pytest.fixture
def job(client, secret) -> dict:
    call(client, secret, "enqueue-job", target_agent="openclaw-ops", subject="job", kind="noop")
    return call(client, secret, "claim-jobs")["jobs"][0]


def block(client, secret, job, reason, status):
    body = {"job_id": job["id"], "lease_token": job["lease_token"], "blocked_reason": reason}
    return call(client, secret, "block-job", status=status, **body)


def still_running(job) -> bool:
    return Step.objects.get(pk=job["id"]).status == "running"


def test_a_block_reason_past_500_characters_is_refused_and_the_job_runs_on(client, secret, job):
    said = block(client, secret, job, "r" * 501, status=400)

    assert said["errors"] == {"blocked_reason": [PAST_500]}
    assert said["error"] == "blocked_reason: a blocked reason is at most 500 characters (501 given)"
    assert still_running(job)


def test_a_block_reason_of_hidden_characters_alone_is_refused(client, secret, job):
    said = block(client, secret, job, "\u200b\u202e", status=400)

    assert said["error"] == "blocked_reason: a block needs a blocked reason"
    assert still_running(job)


def test_a_block_reason_is_kept_whole_without_its_hidden_characters(client, secret, job):
    block(client, secret, job, "r" * 500 + "\u200b", status=200)

    assert Step.objects.get(pk=job["id"]).blocked_reason == "r" * 500


def test_triage_notes_past_500_characters_are_refused_and_nothing_is_decided(capsys):
    found = make_opportunity(AgentFactory(slug="devops"))
    triage = ["triage-opportunity", "--opportunity-id", str(found.id), "--decision", "rejected"]

    with pytest.raises(SystemExit) as exit_:
        call_command("agentbus", *triage, "--reviewer", "agent:lead", "--notes", "r" * 501)

    assert exit_.value.code == 2
    assert json.loads(capsys.readouterr().out)["errors"] == {"--notes": [PAST_500]}
    assert Opportunity.objects.get(pk=found.pk).status == "new"


def test_triage_notes_are_kept_without_their_hidden_characters(db):
    found = make_opportunity(AgentFactory(slug="devops"))
    triage = ["triage-opportunity", "--opportunity-id", str(found.id), "--decision", "rejected"]

    call_command(
        "agentbus", *triage, "--reviewer", "agent:lead", "--notes", "dup\u202e", stdout=StringIO()
    )

    assert Opportunity.objects.get(pk=found.pk).triage_notes == "dup"
