"""Retention of the calls' records: bodies go after OPS_LLM_RECORD_DAYS, over a record's size
cap or the total cap; the LLMCall row stays, and so does the record's row, saying why."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from opscore.heartbeat import run_heartbeat
from opscore.llm import LLMRequest, call_llm
from opscore.llm_records import prune_llm_records
from opscore.models import Event, LLMCall, LLMCallRecord

pytestmark = pytest.mark.django_db
REQUEST = LLMRequest(system="You are terse.", messages=[{"role": "user", "content": "Hi"}])


def a_call(agent, words="Hi") -> LLMCall:
    request = LLMRequest(system=REQUEST.system, messages=[{"role": "user", "content": words}])
    reply = call_llm(request, agent=agent, purpose="test", prompt_version="t.v1")
    return LLMCall.objects.get(pk=reply.call_id)


def later():
    return time.monotonic() + 60


def test_records_older_than_the_retention_lose_their_bodies_not_their_rows(agent, clock, settings):
    settings.OPS_LLM_RECORD_DAYS = 30
    clock.freeze(datetime(2026, 3, 1, 12, tzinfo=UTC))
    old = a_call(agent)
    clock.freeze(datetime(2026, 3, 30, 12, tzinfo=UTC))
    recent = a_call(agent)
    clock.freeze(datetime(2026, 4, 1, 12, tzinfo=UTC))

    assert prune_llm_records(later()) == {"aged": 1, "over_size": 0}

    old.record.refresh_from_db()
    assert (old.record.request, old.record.reply, old.record.size_bytes) == (None, None, 0)
    assert old.record.pruned_reason == "older than 30 days"
    assert LLMCall.objects.filter(pk=old.pk).exists()
    assert LLMCallRecord.objects.get(pk=recent.pk).request["system"] == "You are terse."


def test_the_oldest_go_first_when_all_records_are_over_the_total_cap(agent, settings):
    first, second = a_call(agent, "one " * 3000), a_call(agent, "two")
    settings.OPS_LLM_RECORDS_TOTAL_MB = 0

    assert prune_llm_records(later()) == {"aged": 0, "over_size": 2}
    settings.OPS_LLM_RECORDS_TOTAL_MB = 1
    third = a_call(agent, "three")
    assert prune_llm_records(later()) == {"aged": 0, "over_size": 0}
    assert LLMCallRecord.objects.get(pk=first.pk).pruned_reason == "over the 0 MB total"
    assert LLMCallRecord.objects.get(pk=third.pk).request is not None
    assert LLMCallRecord.objects.get(pk=second.pk).request is None


def aged_calls(agent, clock, settings, count: int) -> None:
    """`count` calls made 31 days ago, past a retention of 30."""
    settings.OPS_LLM_RECORD_DAYS = 30
    clock.freeze(datetime(2026, 3, 1, 12, tzinfo=UTC))
    for n in range(count):
        a_call(agent, f"call {n}")
    clock.freeze(datetime(2026, 4, 1, 12, tzinfo=UTC))


def test_a_pass_cut_short_by_its_cap_leaves_a_row_and_the_next_prunes_the_rest(
    agent, clock, settings
):
    aged_calls(agent, clock, settings, 3)

    assert prune_llm_records(later(), limit=2) == {"aged": 2, "over_size": 0, "deferred": 1}

    capped = Event.objects.get(kind="sweep.capped")
    assert capped.payload == {"loop": "prune_llm_records", "limit": 2, "waiting": 1}
    assert prune_llm_records(later(), limit=2) == {"aged": 1, "over_size": 0}
    assert not LLMCallRecord.objects.kept().exists()


def test_pruning_over_the_total_counts_what_its_cap_left_over_the_total(agent, settings):
    for words in ("one", "two", "three"):
        a_call(agent, words)
    settings.OPS_LLM_RECORDS_TOTAL_MB = 0

    assert prune_llm_records(later(), limit=2) == {"aged": 0, "over_size": 2, "deferred": 1}
    assert Event.objects.get(kind="sweep.capped").payload["waiting"] == 1


def test_a_pass_out_of_time_says_so_in_its_counts(agent, clock, settings):
    aged_calls(agent, clock, settings, 1)

    counts = prune_llm_records(time.monotonic() - 1)

    assert counts == {"aged": 0, "over_size": 0, "deferred": "budget"}


def test_a_record_over_its_size_cap_keeps_only_its_row_and_why(agent, settings):
    settings.OPS_LLM_RECORD_MAX_BYTES = 10

    call = a_call(agent)

    assert call.outcome == "ok" and call.record.request is None
    assert call.record.pruned_reason.endswith("over the 10 cap")


def test_the_heartbeat_prunes_and_says_how_many(agent):
    run = run_heartbeat("test")

    duty = next(d for d in run.duties if d["name"] == "prune_llm_records")
    assert duty["status"] == "ok" and duty["counts"] == {"aged": 0, "over_size": 0}


def test_retention_counts_days_on_the_databases_clock_not_this_machines(agent, clock, settings):
    """One clock: a worker host whose own clock runs 40 days fast must not prune the bodies of
    yesterday's calls (their ages were stamped by the database). Both clocks are pinned at a
    month's end, then only Python's is moved on."""
    import time_machine

    settings.OPS_LLM_RECORD_DAYS = 30
    pinned = datetime(2027, 2, 28, 23, 59, tzinfo=UTC)
    clock.freeze(pinned)
    fresh = a_call(agent)

    with time_machine.travel(pinned + timedelta(days=40), tick=False):
        assert prune_llm_records(later()) == {"aged": 0, "over_size": 0}

    assert LLMCallRecord.objects.get(pk=fresh.pk).request["system"] == "You are terse."
