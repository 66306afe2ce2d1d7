import pytest
from django.db import DatabaseError, transaction
from django.db.models import ProtectedError

from opscore.actions import set_policy
from opscore.models import Event, Policy, PolicyVersion
from opscore.policies import PolicyError
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


def test_every_change_is_a_version_row_with_old_and_new():
    set_policy("x_daily_quota", {"limit": 5}, actor="operator:ann")
    set_policy("x_daily_quota", {"limit": 8}, actor="operator:bob", reason="launch week")

    latest = PolicyVersion.objects.get(policy_id="x_daily_quota", version=2)
    assert (latest.old_value, latest.new_value) == ({"limit": 5}, {"limit": 8})
    assert (latest.changed_by, latest.reason) == ("operator:bob", "launch week")
    assert Policy.objects.value("x_daily_quota").limit == 8


def test_saving_the_same_value_again_writes_no_version():
    set_policy("x_daily_quota", {"limit": 5}, actor="a")
    set_policy("x_daily_quota", {"limit": 5}, actor="a")

    assert PolicyVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("x_daily_quota", {"limit": "8"}, "limit: Input should be a valid integer"),
        ("x_daily_quota", {"limit": -1}, "limit: Input should be greater than or equal to 0"),
        ("x_daily_quota", {"limt": 8}, "limt: Extra inputs are not permitted"),
        ("auto_approve", {"allowed_step_kinds": ["deploy"]}, "deploy is never auto-approved"),
        ("auto_approve", {"allowed_step_kinds": ["teleport"]}, "unknown step kinds"),
        ("reaction_matrix", {"patterns": [{"source": "*"}]}, "patterns.0.tags: Field required"),
        ("memory_influence_policy", {"probability": 1.5}, "probability"),
        ("no_such_policy", {}, "unknown policy key"),
        ("x_daily_quota", [8], "must be a JSON object"),
    ],
)
def test_a_malformed_value_is_refused_and_the_previous_version_stays(key, value, message):
    set_policy("x_daily_quota", {"limit": 5}, actor="a")

    with pytest.raises(PolicyError, match=message):
        set_policy(key, value, actor="a")

    assert Policy.objects.value("x_daily_quota").limit == 5
    assert PolicyVersion.objects.count() == 1


def test_an_unseeded_key_reads_as_its_default():
    assert Policy.objects.value("x_daily_quota").limit == 5
    assert Policy.objects.value("initiative_policy").enabled is False


def test_policy_history_cannot_be_rewritten_even_in_sql():
    set_policy("x_daily_quota", {"limit": 5}, actor="a")

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        PolicyVersion.objects.update(changed_by="someone else")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        Event.objects.all().delete()


def test_an_agent_the_event_log_names_cannot_be_deleted():
    """The log has no database foreign keys (they cost a row lock per event); the ORM still
    refuses to orphan its facts."""
    named, unnamed = AgentFactory(slug="named"), AgentFactory(slug="unnamed")
    Event.objects.create(kind="agent.note", title="a fact", agent=named)

    with pytest.raises(ProtectedError):
        named.delete()
    unnamed.delete()
