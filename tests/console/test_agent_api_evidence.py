"""Evidence refs from an outside runtime are checked, never trusted: a ref whose type or id is
of the wrong JSON kind, or evidence that is not a list at all, is a 400 naming the field,
with nothing written — not a 500 after part of the work."""

import json

import pytest

from console.models import AgentToken
from memory.models import MemoryCandidate
from opportunities.models import Idea, Opportunity
from opscore.actions import record_event
from opscore.models import Runtime
from tests.console.test_agent_api import call
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

SCORES = {"impact_score": 3, "confidence_score": 3, "urgency_score": 3}
ANSWERS = SCORES | {
    "reversibility": "high",
    "owner_candidate": "openclaw-ops",
    "suggested_next_step": "Look closer",
    "why_now": "It broke today",
}


@pytest.fixture
def outside(db):
    return AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=5)


@pytest.fixture
def secret(outside):
    return AgentToken.issue(outside, "vps", actor="test")[1]


def opportunity(client, secret, evidence, status=400) -> dict:
    body = ANSWERS | {"theme": "ops", "title": "Look", "evidence": evidence}
    return call(client, secret, "create-opportunity", status=status, **body)


@pytest.mark.parametrize("kind", [[], {}, ["event"], {"a": 1}, 5, None, True])
def test_an_evidence_type_that_is_not_a_string_is_unknown(client, secret, kind):
    answer = opportunity(client, secret, [{"type": kind, "id": 1}])

    (problem,) = answer["errors"]["evidence.0"]
    assert problem.startswith("unknown evidence type")
    assert not Opportunity.objects.exists()


@pytest.mark.parametrize("ident", [[], {}, "1", 1.5, True, None, [1]])
def test_an_evidence_id_that_is_not_an_integer_is_a_field_error(client, secret, outside, ident):
    answer = opportunity(client, secret, [{"type": "event", "id": ident}])

    assert answer["errors"] == {"evidence.0": ["id must be an integer"]}


def test_an_evidence_id_beyond_any_column_is_no_such_row(client, secret):
    answer = opportunity(client, secret, [{"type": "event", "id": 10**30}])

    assert answer["errors"] == {"evidence.0": [f"no event {10**30}"]}


def test_a_memory_candidate_citing_a_list_typed_ref_is_refused(client, secret):
    body = {"candidate_kind": "fact", "scope": "agent", "subject_key": "disk", "title": "t"}
    body |= {"body": "b", "confidence_score": 3, "evidence": [{"type": [], "id": 1}]}

    answer = call(client, secret, "create-memory-candidate", status=400, **body)

    assert list(answer["errors"]) == ["evidence.0"]
    assert not MemoryCandidate.objects.exists()


def test_the_cli_refuses_a_list_typed_ref_in_one_line_with_exit_2(outside, capsys):
    from tests.console.test_agentbus import bus

    args = ["--source-agent", "openclaw-ops", "--theme", "ops", "--title", "Look"]
    for name, value in ANSWERS.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    args += ["--evidence", json.dumps([{"type": [], "id": 1}])]

    answer = bus("create-opportunity", *args, expect_exit=2, capsys=capsys)

    assert list(answer["errors"]) == ["evidence.0"]


@pytest.mark.parametrize("evidence", [5, 1.5, True, False, 0, "1", {"type": "event", "id": 1}])
def test_promoting_an_idea_with_evidence_that_is_not_a_list_is_a_400(
    client, secret, outside, evidence
):
    event = record_event("note", "disk filling", agent=outside)
    idea = Idea.objects.create(
        source_agent=outside,
        theme="ops",
        title="Disk",
        body="It fills.",
        evidence=[{"type": "event", "id": event.id}],
    )
    body = ANSWERS | {"idea_id": idea.id, "evidence": evidence}

    answer = call(client, secret, "promote-idea-to-opportunity", status=400, **body)

    assert "a list of" in answer["errors"]["evidence"][0]
    assert not Opportunity.objects.exists()
