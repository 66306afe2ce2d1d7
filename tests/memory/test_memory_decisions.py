"""A reviewer's own calls: typed rejections, merge into, supersede, promote with overrides —
from the CLI, the agentbus and the admin — and the provenance chain on a memory's page."""

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from memory.models import Memory, MemoryCandidate, MemoryReview
from memory.retrieval import retrieve
from opscore.actions import record_event
from opscore.db import db_now
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_agent(db):
    return AgentFactory(slug="security")


def memory(*args):
    out = StringIO()
    call_command("memory", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def refused(capsys, command, *args) -> dict:
    with pytest.raises(SystemExit) as exit_:
        call_command(command, *args)
    assert exit_.value.code == 2
    return json.loads(capsys.readouterr().out or capsys.readouterr().err)


def candidate(agent, **fields) -> MemoryCandidate:
    event = record_event("step.failed", "x", agent=agent)
    defaults = {
        "source_agent": agent,
        "kind": "lesson",
        "title": "Disks fill on Fridays",
        "body": "db-1's log volume fills every Friday.",
        "evidence": [{"type": "event", "id": event.id}],
        "confidence": Decimal("0.80"),
    }
    return MemoryCandidate.objects.create(**(defaults | fields))


def kept(agent, content="the disk on db-1 fills with logs", **fields) -> Memory:
    return Memory.objects.create(
        agent=agent,
        type="lesson",
        content=content,
        confidence=Decimal("0.70"),
        source_trace_id=f"t:{content}",
        **fields,
    )


def test_a_rejection_names_its_kind_of_wrong(agent):
    waiting = candidate(agent)

    out = memory("reject", str(waiting.id), "--kind", "chatter", "--reason", "just banter")

    waiting.refresh_from_db()
    assert waiting.status == "rejected"
    assert out["reason"] == "conversation chatter, not knowledge: just banter"
    assert MemoryReview.objects.get(candidate=waiting).decision == "reject"


def test_merge_into_adds_the_evidence_and_refuses_someone_elses_private_memory(
    agent, other_agent, capsys
):
    waiting, target = candidate(agent), kept(agent)
    theirs = kept(other_agent, "their private note")

    error = refused(
        capsys,
        "memory",
        "--json",
        "merge",
        str(waiting.id),
        "--into",
        str(theirs.id),
        "--reason",
        "same thing",
    )
    out = memory("merge", str(waiting.id), "--into", str(target.id), "--reason", "same thing")

    assert "private to" in error["error"]
    target.refresh_from_db()
    assert out["decision"] == "merge" and len(target.evidence) == 1
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "merged"


def test_superseding_retires_the_old_memory_from_prompts(agent, capsys):
    old, new = kept(agent, "deploy on Fridays"), kept(agent, "never deploy on Fridays")

    assert (
        refused(
            capsys,
            "memory",
            "--json",
            "supersede",
            str(old.id),
            "--by",
            str(old.id),
            "--reason",
            "x",
        )["error"]
        == "a memory cannot supersede itself"
    )
    memory("supersede", str(old.id), "--by", str(new.id), "--reason", "the team changed its mind")

    old.refresh_from_db()
    assert (old.status, old.superseded_by_id, old.valid_to is not None) == (
        "superseded",
        new.id,
        True,
    )
    assert [r.memory.id for r in retrieve(agent.slug, "deploy Fridays")] == [new.id]


def test_marking_a_superseded_memory_stale_is_refused_and_keeps_what_replaced_it(agent, capsys):
    """It was marked stale all the same: the supersession's status and end were overwritten,
    and a stale memory read as one retired for nothing, not replaced by the newer one."""
    old, new = kept(agent, "deploy on Fridays"), kept(agent, "never deploy on Fridays")
    memory("supersede", str(old.id), "--by", str(new.id), "--reason", "the team changed its mind")
    ended = Memory.objects.get(pk=old.pk).valid_to

    error = refused(capsys, "memory", "--json", "stale", str(old.id), "--reason", "old news")

    assert error["error"] == f"memory {old.id} is superseded, not active"
    old.refresh_from_db()
    assert (old.status, old.superseded_by_id, old.valid_to) == ("superseded", new.id, ended)
    assert not MemoryReview.objects.filter(decision="mark_stale").exists()


def test_frozen_promotions_hold_for_an_operator_too(agent):
    waiting = candidate(agent)
    memory("freeze", "on", "--reason", "audit week")

    out = memory("promote", str(waiting.id))

    assert out["decision"] == "skipped" and "audit week" in out["reason"]
    assert not Memory.objects.exists()
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "new"


def bus(*args):
    out = StringIO()
    call_command("agentbus", *args, stdout=out)
    return json.loads(out.getvalue())


def ahead(**span) -> str:
    """An instant `span` after the database's now, as the bus takes it (a fixed 2030 stops
    being ahead one day)."""
    return (db_now() + timedelta(**span)).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def test_agentbus_promotes_with_overrides_and_supersedes_what_it_names(agent):
    waiting, old = candidate(agent), kept(agent, "old advice about disks")

    out = bus(
        "promote-memory-candidate",
        "--candidate-id",
        str(waiting.id),
        "--promoted-by",
        "curator",
        "--title",
        "Friday disk pressure",
        "--confidence-score",
        "5",
        "--expires-at",
        ahead(days=400),
        "--supersedes-memory-id",
        str(old.id),
        "--notes",
        "checked the graphs",
    )

    made = Memory.objects.get(pk=out["memory_id"])
    assert out["decision"] == "promote" and "checked the graphs" in out["reason"]
    assert (made.title, made.confidence, made.expires_at.isoformat()) == (
        "Friday disk pressure",
        Decimal("1.00"),
        ahead(days=400).replace("Z", "+00:00"),
    )
    assert Memory.objects.get(pk=old.pk).status == "superseded"


def test_agentbus_refuses_a_promotion_that_would_be_expired_already(agent, capsys):
    """A past --expires-at made a memory no prompt would ever see, reported as promoted."""
    waiting = candidate(agent)

    error = refused(
        capsys,
        "agentbus",
        "promote-memory-candidate",
        *("--candidate-id", str(waiting.id), "--promoted-by", "curator"),
        *("--expires-at", ahead(days=-1)),
    )

    (said,) = error["errors"]["--expires-at"]
    assert said == "in the past: the memory would be expired as it was made"
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "new"
    assert not Memory.objects.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--namespace", "acme"], "unknown namespace 'acme'"),
        (["--expires-at", "next week"], "not an ISO 8601 date and time"),
        (["--expires-at", "2030-01-01T00:00:00"], "with a time zone"),
        # shaped like a time but no day there is: parse_datetime raised, a 500 over HTTP
        (["--expires-at", "2030-02-30T00:00:00Z"], "not an ISO 8601 date and time"),
        (["--next-review-at", "0000-01-01T00:00:00Z"], "not an ISO 8601 date and time"),
        (["--expires-at", "9999-12-31T23:59:59-14:00"], "out of range"),  # unloadable once stored
        (["--next-review-at", "0001-01-01T00:00:00+14:00"], "out of range"),
    ],
)
def test_agentbus_promotion_refuses_bad_arguments_with_exit_2(agent, capsys, extra, message):
    waiting = candidate(agent)

    error = refused(
        capsys,
        "agentbus",
        "promote-memory-candidate",
        "--candidate-id",
        str(waiting.id),
        "--promoted-by",
        "curator",
        *extra,
    )

    assert message in json.dumps(error)
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "new"


def test_the_admin_decides_in_place_and_shows_a_refusal_in_the_form(admin_client, agent):
    waiting = candidate(agent)
    url = f"/admin/memory/memorycandidate/{waiting.id}/decide/"

    assert (
        "Promote, reject or merge"
        in admin_client.get(f"/admin/memory/memorycandidate/{waiting.id}/change/").content.decode()
    )
    missing = admin_client.post(url, {"decision": "merge", "memory": 999})
    done = admin_client.post(url, {"decision": "reject", "reject_kind": "speculative"})

    assert missing.status_code == 200 and "no memory 999" in missing.content.decode()
    assert done.status_code == 302
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "rejected"


def test_promoting_again_from_a_stale_page_says_it_was_decided_never_a_server_error(
    admin_client, agent
):
    waiting = candidate(agent)
    url = f"/admin/memory/memorycandidate/{waiting.id}/decide/"

    first = admin_client.post(url, {"decision": "promote"})
    again = admin_client.post(url, {"decision": "promote"})  # a double click, a second tab

    assert first.status_code == 302
    assert again.status_code == 200
    assert "Already decided: promoted as memory" in again.content.decode()
    assert Memory.objects.count() == 1


def change_form_data(admin_client, url: str, **fields) -> dict:
    """What the browser would post: the page's own fields (inline management forms too)."""
    context = admin_client.get(url).context
    data = {
        f"{formset.formset.prefix}-{key}": value
        for formset in context["inline_admin_formsets"]
        for key, value in formset.formset.management_form.initial.items()
    }
    return data | fields


def test_a_memorys_page_walks_its_provenance(admin_client, agent):
    waiting = candidate(agent, source_refs=["https://wiki/runbook"])
    promoted = memory("promote", str(waiting.id))
    made = Memory.objects.get(pk=promoted["memory"])
    old = kept(agent, "old disk advice")
    url = f"/admin/memory/memory/{old.id}/change/"
    form = change_form_data(
        admin_client, url, content=old.content, confidence="0.70", reason="replaced"
    )
    saved = admin_client.post(url, form | {"superseded_by_memory": made.id})

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    page = admin_client.get(f"/admin/memory/memory/{made.id}/change/").content.decode()

    event_id = waiting.evidence[0]["id"]
    for expected in [
        f"event {event_id}",
        f"candidate {waiting.id}",
        "https://wiki/runbook",
        "promote by operator:cli",
        f"memory {old.id} (superseded)",
    ]:
        assert expected in page
    assert Memory.objects.get(pk=old.pk).status == "superseded"


# A reviewer's reason is kept as every reason is (opscore.text.checked_reason): it was taken as
# given (a reason of zero-width or bidi characters alone passed `.strip()`, and the columns are
# unlimited text), so a decision could say nothing visible, or megabytes.
PAST_500 = "a reason is at most 500 characters (501 given)"
DECISIONS = {  # each verb's arguments but its reason, from (candidate, memory, newer memory)
    "reject": lambda c, m, n: ("reject", c, "--kind", "other"),
    "merge": lambda c, m, n: ("merge", c, "--into", m),
    "supersede": lambda c, m, n: ("supersede", m, "--by", n),
    "stale": lambda c, m, n: ("stale", m),
}
NEEDED = {  # what each that needs a reason says of one of hidden characters alone
    "reject": "a rejection for 'other' reasons needs notes saying why",
    "supersede": "superseding a memory needs a reason",
    "stale": "marking a memory stale needs a reason",
}


def decide_refused(capsys, agent, verb, reason) -> str:
    """The verb's refusal, and nothing decided: the candidate open, the memory active."""
    waiting, active, newer = candidate(agent), kept(agent), kept(agent, "newer disk advice")
    arguments = DECISIONS[verb](str(waiting.id), str(active.id), str(newer.id))
    error = refused(capsys, "memory", "--json", *arguments, "--reason", reason)
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "new"
    assert Memory.objects.get(pk=active.pk).status == "active"
    assert not MemoryReview.objects.exists()
    return error["error"]


@pytest.mark.parametrize("verb", DECISIONS)
def test_a_reason_past_500_characters_is_refused_and_nothing_is_decided(agent, capsys, verb):
    assert decide_refused(capsys, agent, verb, "r" * 501) == PAST_500


@pytest.mark.parametrize("verb", NEEDED)
def test_a_needed_reason_of_hidden_characters_alone_is_refused(agent, capsys, verb):
    assert decide_refused(capsys, agent, verb, "\u200b\u202e") == NEEDED[verb]


def test_agentbus_promotion_refuses_notes_past_500_characters(agent, capsys):
    waiting = candidate(agent)
    promote = ("promote-memory-candidate", "--candidate-id", str(waiting.id))

    error = refused(capsys, "agentbus", *promote, "--promoted-by", "curator", "--notes", "r" * 501)

    assert error["error"] == PAST_500
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "new"


def test_the_admin_asks_again_for_a_supersede_reason_of_hidden_characters_alone(
    admin_client, agent
):
    """The form took it (`.strip()` left something), then supersede_memory refused it."""
    old, new = kept(agent, "old disk advice"), kept(agent, "newer disk advice")
    url = f"/admin/memory/memory/{old.id}/change/"
    form = change_form_data(admin_client, url, content=old.content, confidence="0.70")

    answer = admin_client.post(url, form | {"reason": "\u200b", "superseded_by_memory": new.id})

    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors["reason"] == ["This field is required."]
    assert Memory.objects.get(pk=old.pk).status == "active"


def test_agentbus_supersedes_the_same_claim_it_names_once(agent):
    """A runtime naming the memory its candidate restates is the common case: the gate finds the
    same claim itself, and the promotion used to fail on superseding it a second time."""
    old = kept(agent, "db-1 backs up nightly", scope="service", subject_key="db-1")
    Memory.objects.filter(pk=old.pk).update(type="fact", title="db-1 backs up nightly")
    waiting = candidate(
        agent,
        kind="fact",
        scope="service",
        subject_key="db-1",
        title="db-1 backs up hourly",
        body="db-1 backs up hourly since the move.",
    )

    out = bus(
        "promote-memory-candidate",
        "--candidate-id",
        str(waiting.id),
        "--promoted-by",
        "curator",
        "--supersedes-memory-id",
        str(old.id),
    )

    old.refresh_from_db()
    assert out["decision"] == "promote"
    assert (old.status, old.superseded_by_id) == ("superseded", out["memory_id"])
    assert MemoryReview.objects.filter(decision="supersede", memory=old).count() == 1


@pytest.mark.parametrize("curator", ["", "   ", "c" * 200])
def test_agentbus_promotion_by_a_blank_or_overlong_curator_is_refused(agent, capsys, curator):
    """Blank, it was recorded as promoted by 'agent:'; overlong, the database refused the
    review row (exit 1, no JSON) after the gate had decided."""
    waiting = candidate(agent)

    verb = ["promote-memory-candidate", "--candidate-id", str(waiting.id)]
    error = refused(capsys, "agentbus", *verb, "--promoted-by", curator)

    assert "--promoted-by: 1 to 100 characters" in error["error"] and not error["ok"]
    assert MemoryCandidate.objects.get(pk=waiting.pk).status == "new"
