"""A dev job's approval binds the caps its run will start under (the coding policy's, kept by
its mission): every surface that approves the job shows them, and its digest binds them, so
caps moved between the card and the approval are not approved unseen."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from missions.actions import submit_proposal
from missions.decisions import DecisionRefused, decide_proposal
from missions.models import Proposal
from opscore.actions import set_policy
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
POLICY = {"max_iterations": 7, "max_wall_minutes": 45, "max_cost_usd": 2.5}
CAPS = ("max_iterations 7", "max_wall_minutes 45", "max_cost_usd 2.5", "max_changed_files 3")


@pytest.fixture
def proposed(git_repo):
    AgentFactory(slug="devops")
    set_policy("coding_policy", POLICY, actor="t")
    body = {
        "repo": "app",
        "worktree_ref": "main",
        "summary": "Greet the world",
        "problem_statement": "Say hello, world",
        "acceptance_criteria": ["it greets"],
        "constraints": {"allow_merge": True, "max_changed_files": 3},
        "handoff": {"runner": "command", "mode": "single-shot"},
    }
    steps = [{"kind": "dev.code_change", "payload": body}]
    data = {"agent": "devops", "title": "Greet", "steps": steps}
    return submit_proposal(data, source="human").proposal


def says_the_caps(text: str) -> bool:
    return all(cap in text for cap in CAPS) and "command (single-shot)" in text


def test_the_stage_card_and_the_admin_show_the_caps_the_job_runs_under(proposed, admin_client):
    card = admin_client.get("/stage/approvals").content.decode()
    admin = admin_client.get(f"/admin/missions/proposal/{proposed.id}/change/").content.decode()

    assert says_the_caps(card) and says_the_caps(admin)


def test_the_cli_and_the_api_show_the_caps_the_job_runs_under(proposed, client, settings):
    out = StringIO()
    call_command("proposal", "list", stdout=out)
    settings.OPS_API_TOKEN = token = "test-token-0123456789-0123456789"
    api = client.get(
        f"/api/ops/proposals/{proposed.id}", headers={"Authorization": f"Bearer {token}"}
    ).json()

    assert says_the_caps(out.getvalue())
    assert says_the_caps(json.dumps(api["previews"]))


def test_caps_moved_after_the_card_was_shown_are_not_approved_unseen(proposed, admin_user):
    shown = proposed.content_digest()
    set_policy("coding_policy", POLICY | {"max_iterations": 40}, actor="t")

    with pytest.raises(DecisionRefused, match="changed"):
        decide_proposal(proposed, approve=True, user=admin_user, shown_digest=shown)

    assert Proposal.objects.get().status == "pending"
