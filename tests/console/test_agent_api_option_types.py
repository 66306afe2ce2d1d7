"""An agent-bus option over HTTP or MCP is of the JSON kind its tool schema declares: another
kind is a 400 (a tool error) naming the option and the kind it wants, and nothing is written.
Each value was turned into the CLI's text, so a number given for a topic became the topic "7",
a list given for a title its JSON, and "5" given for a limit the integer 5."""

import pytest

from console.agent_mcp import call as mcp_call
from console.models import AgentToken
from memory.models import MemoryCandidate
from missions.models import Proposal
from opscore.models import Event, Runtime
from tests.console.test_agent_api import call, enqueue
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db
NOT_TEXT = [7, 1.5, True, ["x"], {"a": "b"}]
NOT_INTEGERS = ["5", " 5", 1.0, True, ["5"], {"n": 5}]
JOB = {"target_agent": "openclaw-ops", "subject": "check disks", "kind": "noop"}


@pytest.fixture
def secret(db):
    outside = AgentFactory(slug="openclaw-ops", runtime=Runtime.EXTERNAL, max_concurrent_steps=10)
    return AgentToken.issue(outside, "vps", actor="test")[1]


def ledger() -> tuple:
    return Event.objects.count(), Proposal.objects.count(), MemoryCandidate.objects.count()


@pytest.mark.parametrize("wrong", NOT_TEXT, ids=repr)
@pytest.mark.parametrize(
    "verb, body, option",
    [
        ("emit-event", {"topic": "ops.x"}, "topic"),
        ("emit-event", {"topic": "ops.x"}, "title"),
        ("emit-event", {"topic": "ops.x"}, "dedupe_key"),
        ("enqueue-job", JOB, "subject"),
        ("create-memory-candidate", {"title": "t", "body": "b"}, "subject_key"),
    ],
)
def test_text_given_as_another_kind_is_refused(client, secret, verb, body, option, wrong):
    before = ledger()

    answer = call(client, secret, verb, status=400, **body | {option: wrong})

    assert answer["error"] == f"{option}: expected a string"
    assert answer["errors"] == {option: ["expected a string"]}
    assert ledger() == before


@pytest.mark.parametrize("wrong", NOT_INTEGERS, ids=repr)
def test_an_integer_given_as_another_kind_is_refused(client, secret, wrong):
    job = enqueue(client, secret)

    claim = call(client, secret, "claim-jobs", status=400, limit=wrong)
    priority = call(client, secret, "enqueue-job", status=400, **JOB | {"priority": wrong})
    after = call(client, secret, "enqueue-job", status=400, **JOB | {"depends_on": [job, wrong]})

    assert claim["errors"] == {"limit": ["expected an integer"]}
    assert priority["errors"] == {"priority": ["expected an integer"]}
    assert after["errors"] == {"depends_on": ["expected an integer"]}
    assert Proposal.objects.count() == 1


@pytest.mark.parametrize("wrong", ["600", "nan", True, [600]], ids=repr)
def test_a_number_given_as_another_kind_is_refused_and_the_job_stays_queued(client, secret, wrong):
    enqueue(client, secret)

    answer = call(client, secret, "claim-jobs", status=400, lease_seconds=wrong)

    assert answer["errors"] == {"lease_seconds": ["expected a number"]}
    assert call(client, secret, "claim-jobs")["jobs"]


def test_each_kind_given_as_itself_is_taken(client, secret):
    """An integer where a number is wanted is one; an object, a list or JSON text where JSON
    is wanted is taken as it always was; a list for a repeated option, a single value too."""
    job = enqueue(client, secret)

    made = call(client, secret, "enqueue-job", **JOB | {"depends_on": [job], "payload": "{}"})
    also = call(client, secret, "enqueue-job", **JOB | {"depends_on": job, "priority": 5})
    claimed = call(client, secret, "claim-jobs", limit=1, lease_seconds=60)

    assert made["proposal"]["status"] == also["proposal"]["status"] == "accepted"
    assert [j["id"] for j in claimed["jobs"]] == [job]


def test_an_mcp_tool_call_is_held_to_the_same_kinds(secret):
    before = ledger()

    answer = mcp_call(secret, "emit-event", {"topic": 7})

    assert answer == {
        "ok": False,
        "error": "topic: expected a string",
        "errors": {"topic": ["expected a string"]},
    }
    assert ledger() == before


def test_null_for_an_option_the_token_fills_in_is_filled_in_as_if_left_out(client, secret):
    """null leaves any option out; for the acting agent it answered 403 "not yours", and for
    claim-jobs' lease_owner "missing options", though neither has to be sent."""
    job = enqueue(client, secret)

    claimed = call(client, secret, "claim-jobs", target_agent=None, lease_owner=None)
    event = call(client, secret, "emit-event", topic="ops.x", source_agent=None)

    assert [j["id"] for j in claimed["jobs"]] == [job]
    assert event["event"]["agent"] == "openclaw-ops"


def test_a_payload_field_the_job_lacks_is_named_in_the_refusal(client, secret):
    """The refusal said `payload: ["Field required", "Field required", …]`: which fields, the
    caller could not tell. Each message now starts with the payload field it is about."""
    job = JOB | {"kind": "crawl", "payload": {"url": "gopher://example.com/"}}

    answer = call(client, secret, "enqueue-job", status=400, **job)

    assert answer["errors"] == {"payload": ["url: an http:// or https:// address"]}
    assert Proposal.objects.count() == 0
