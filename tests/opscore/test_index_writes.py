"""Indexes on the hot path hold only the entries some query reads.

Every event insert and every non-HOT update of a mission writes each index of its table once.
A step's and a mission's events (most of the log) name no proposal, and a full index on
opscore_event.proposal_id took a NULL entry for each of them; Django gave a mission's agent
key a LIKE-prefix twin (varchar_pattern_ops) that no query reads, rewritten by each of the
mission's status changes. Lookups by proposal and by agent must still be planned on an index."""

import pytest
from django.db import connection

from missions.models import Mission, Proposal
from opscore.models import Event
from tests.factories import AgentFactory, propose

ROWS = 300  # enough that scanning a whole table costs more than one index probe

pytestmark = pytest.mark.django_db


def indexes_on(table: str, column: str) -> list[tuple[str, str]]:
    """(name, definition) of every index of `table` that covers `column`."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
               FROM pg_index i JOIN pg_attribute a
                 ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
               WHERE i.indrelid = %s::regclass AND a.attname = %s""",
            [table, column],
        )
        return sorted(cursor.fetchall())


def plan_of(queryset) -> str:
    """The plan of the query's filter alone, with its table's statistics fresh and sequential
    scans priced out: which index, if any, the planner can serve it from."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {queryset.model._meta.db_table}")
        cursor.execute("SET LOCAL enable_seqscan = off")
    return queryset.order_by().explain()


def missions_of(agent, count: int) -> None:
    proposals = Proposal.objects.bulk_create(
        Proposal(agent=agent, title="p", source="api", status="accepted") for _ in range(count)
    )
    Mission.objects.bulk_create(
        Mission(title="m", agent=agent, created_by="test", proposal=p) for p in proposals
    )


def test_it_writes_no_proposal_index_entry_for_an_event_without_a_proposal():
    (only,) = indexes_on("opscore_event", "proposal_id")

    assert only[0] == "event_proposal_idx"
    assert only[1].endswith("WHERE (proposal_id IS NOT NULL)")


def test_an_events_lookup_by_proposal_still_reads_the_index():
    agent = AgentFactory()
    proposal = propose(agent, "noop")
    Event.objects.bulk_create(Event(kind="step.succeeded", agent=agent) for _ in range(ROWS))

    assert "event_proposal_idx" in plan_of(proposal.events.all())
    # What PROTECT's check asks before proposals are deleted (= ANY of their ids).
    deleting = [proposal.id, proposal.id + 1]
    assert "event_proposal_idx" in plan_of(Event.objects.filter(proposal__in=deleting))


def test_it_keeps_one_index_on_a_missions_agent_and_lookups_read_it():
    agent = AgentFactory()
    missions_of(AgentFactory(), ROWS)
    missions_of(agent, 1)

    assert [name for name, _ in indexes_on("missions_mission", "agent_id")] == ["mission_agent_idx"]
    assert "mission_agent_idx" in plan_of(Mission.objects.filter(agent=agent))
