"""Statements a hot path runs compiled once per process (opscore/compiled.py): a row it only
writes (an event, a coding pass's row) must be stored and handed back as the ORM's create()
has it; a joined read's rows built as select_related builds them."""

from decimal import Decimal

import pytest
from django.db.models import Value
from django.db.models.functions import Concat

from opscore.actions import record_event
from opscore.compiled import compiled_join, insert_row
from opscore.models import Event

pytestmark = pytest.mark.django_db

STORED = ["kind", "title", "summary", "tags", "payload", "agent_id", "step_id", "actor"]


def stored(event: Event) -> dict:
    row = Event.objects.get(pk=event.pk)
    return {name: getattr(row, name) for name in [*STORED, "created_at"]}


def test_an_event_is_the_row_create_would_write(agent):
    fields = dict(
        kind="x.done",
        title="done",
        summary="all of it",
        tags=["x", "done"],
        payload={"n": 1, "cost": "0.0100", "nested": {"a": [1, 2]}},
        agent=agent,
        actor="system:test",
    )
    by_orm = Event.objects.create(**fields)
    compiled = insert_row(Event(**fields))

    assert compiled.pk > by_orm.pk and compiled.created_at is not None
    assert not compiled._state.adding and compiled._state.db == "default"
    theirs, ours = stored(by_orm), stored(compiled)
    assert {k: v for k, v in ours.items() if k != "created_at"} == {
        k: v for k, v in theirs.items() if k != "created_at"
    }
    assert ours["created_at"] == compiled.created_at  # read back as the database set it


def test_record_event_still_redacts_what_it_stores():
    event = record_event("x.leak", "sent Bearer abcdefgh12345", payload={"token": "hunter22"})

    row = Event.objects.get(pk=event.pk)
    assert row.title == "sent Bearer [redacted]" and row.payload == {"token": "[redacted]"}
    assert (row.title, row.payload) == (event.title, event.payload)


def test_an_event_of_defaults_only_stores_them():
    event = record_event("x.bare", "bare")

    row = Event.objects.get(pk=event.pk)
    assert (row.summary, row.tags, row.payload, row.agent_id, row.dedupe_key) == (
        "",
        [],
        {},
        None,
        None,
    )


def test_a_value_that_is_an_expression_goes_through_save():
    event = insert_row(Event(kind="x.expr", title=Concat(Value("a"), Value("b"))))

    assert Event.objects.get(pk=event.pk).title == "ab"


def test_a_row_given_its_key_keeps_it():
    event = insert_row(Event(id=987654, kind="x.keyed", title="keyed"))

    assert Event.objects.get(pk=987654).title == "keyed" and event.pk == 987654


def test_a_coding_pass_row_keeps_its_decimal_and_its_run(coding_repo):
    from coding.models import CodingIteration
    from tests.coding_support import new_run

    run = new_run(coding_repo, "@greet")
    row = insert_row(CodingIteration(run=run, number=1, cost_usd=Decimal("0.0123"), verdict="v"))

    stored_row = CodingIteration.objects.get(pk=row.pk)
    assert (stored_row.run_id, stored_row.cost_usd, stored_row.verdict) == (
        run.id,
        Decimal("0.0123"),
        "v",
    )


def test_a_joined_row_is_what_select_related_builds(coding_repo, django_assert_num_queries):
    from coding.driver import startable
    from coding.models import CodingRun
    from tests.coding_support import new_run

    new_run(coding_repo, "@one")
    new_run(coding_repo, "@two")
    theirs = list(CodingRun.objects.startable().select_related("repository").order_by("id"))

    with django_assert_num_queries(1):
        ours = startable()
        names = [run.repository.name for run in ours]  # cached: no query of its own

    assert names == [coding_repo.name] * 2
    fields = [f.attname for f in CodingRun._meta.concrete_fields]
    assert [[getattr(r, f) for f in fields] for r in ours] == [
        [getattr(r, f) for f in fields] for r in theirs
    ]
    assert [r.repository.__dict__.keys() for r in ours] == [
        r.repository.__dict__.keys() for r in theirs
    ]


def test_a_joined_read_of_other_columns_is_refused():
    from coding.models import CodingRun

    with pytest.raises(ValueError, match="other columns"):
        compiled_join(CodingRun.objects.select_related("repository").defer("task"), "repository")
