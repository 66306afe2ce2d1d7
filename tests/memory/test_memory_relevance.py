"""Retrieval finds what matters (issue 29): a deterministic query built from what the step is
about, relevance before confidence, no filler, no blind spots, and why each memory was carried."""

import json
import subprocess
import sys
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models.functions import Now

from memory.models import Memory
from memory.retrieval import memory_context, retrieve
from missions.prompts import build_request
from tests.factories import AgentFactory, make_step
from tests.processes import ROOT, child_environment

pytestmark = pytest.mark.django_db


def remember(agent, content, n=[0], **fields):  # noqa: B006 - a counter for unique trace ids
    n[0] += 1
    defaults = {"type": "lesson", "confidence": Decimal("0.70"), "scope": "agent"}
    return Memory.objects.create(
        agent_id=agent, content=content, source_trace_id=f"rel{n[0]}", **(defaults | fields)
    )


def ids(found) -> list[int]:
    return [r.memory.id for r in found]


# 1. The query: what the step is about, the same under any hash seed.

EQUAL_WORDS = (
    "alpha bravo charl delta echos foxtr golfs hotel india julie kilos limas mikes novem oscar "
    "papas quebe romeo sierr tango unifo victo whisk xrays yanke zulus"
)


@pytest.mark.django_db(transaction=True)
def test_the_same_query_retrieves_the_same_memories_under_any_hash_seed(agent):
    for n, word in enumerate(EQUAL_WORDS.split()):
        remember("devops", f"note {n} mentions {word}", confidence=Decimal("0.70"))

    QUERY = ["--agent", "devops", "--query", EQUAL_WORDS]

    def search(seed: str) -> list[int]:
        done = subprocess.run(
            [sys.executable, "manage.py", "memory", "--json", "search", *QUERY],
            cwd=ROOT,
            env=child_environment(2, PYTHONHASHSEED=seed),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return [row["id"] for row in json.loads(done.stdout)]

    first = search("1")
    assert first and all(search(seed) == first for seed in ("2", "3", "4"))


def test_a_step_is_searched_by_what_it_is_about_not_its_json_envelope(agent):
    cert = remember("devops", "Renew the TLS certificate on the edge proxy before it lapses")
    remember("devops", "Timestamps in evidence payloads are always in UTC")
    step = make_step(
        "analyze",
        agent=agent,
        payload={
            "instructions": "check the certificate renewal",
            "evidence": [{"type": "event", "id": 41, "created_at": "2026-12-01T09:30:00+00:00"}],
            "since": "2026-12-01T09:30:00+00:00",
        },
    )

    request, _ = build_request(step)

    assert request.injected["memory_ids"] == [cert.id]


# 2. Relevance first; confidence and recency only break ties.


def test_a_memory_matching_four_query_words_beats_a_confident_one_matching_one(agent):
    remember("devops", "Allow three days before chasing an invoice", confidence=Decimal("1.00"))
    cert = remember(
        "devops",
        "Certificate renewal on the edge proxy takes days: start the renewal early",
        confidence=Decimal("0.60"),
    )

    found = retrieve("devops", "edge proxy certificate renewal days")

    assert ids(found)[0] == cert.id


def test_equal_relevance_is_broken_by_confidence(agent):
    low = remember("devops", "restart the exporter", confidence=Decimal("0.60"))
    high = remember("devops", "restart the exporter", confidence=Decimal("0.90"))

    assert ids(retrieve("devops", "exporter restart")) == [high.id, low.id]


def test_a_word_found_as_written_outranks_one_sharing_only_its_stem(agent):
    exact = remember("devops", "Caching hides stale builds", confidence=Decimal("0.60"))
    stem = remember("devops", "The runner caches builds", confidence=Decimal("0.90"))

    assert ids(retrieve("devops", "caching")) == [exact.id, stem.id]


def test_a_word_no_query_holds_does_not_make_a_memory_longer(agent):
    """'since' is a lexeme to Postgres but a function word to the query: the twin that says it
    matches the same words in no longer a text, so the two score alike."""
    plain = remember("devops", "The volume fills up on Fridays")
    wordier = remember("devops", "The volume fills up on Fridays since then")

    found = retrieve("devops", "volume Fridays")

    assert ids(found) == [wordier.id, plain.id]  # a tie: the newer first
    assert found[0].score == found[1].score


# 3. No filler: an empty slot rather than a non-match.


def test_nothing_relevant_means_no_memories(agent):
    for n in range(6):
        remember("devops", f"confident note {n} about meetings", confidence=Decimal("0.95"))
        remember("devops", f"rule {n} about meetings", type="decision", scope="global")

    assert retrieve("devops", "kubernetes ingress certificate") == []
    section, refs = memory_context("devops", "kubernetes ingress certificate")
    assert (section, refs["memory_ids"]) == ("", [])


def test_only_the_matching_memories_fill_the_slots(agent):
    backup = remember("devops", "the backup job on db-1 skips Sundays")
    for n in range(6):
        remember("devops", f"confident note {n} about meetings", confidence=Decimal("0.95"))

    assert ids(retrieve("devops", "why did the backup skip")) == [backup.id]


# 4. No blind spots, and the filters stay strict.


@pytest.mark.parametrize("kind", ["fact", "insight", "strategy", "pattern"])
def test_global_facts_insights_strategies_and_patterns_are_retrievable(agent, kind):
    found = remember(
        "devops", "The warehouse closes its loading dock at noon", type=kind, scope="global"
    )

    assert ids(retrieve("devops", "loading dock hours")) == [found.id]


def test_a_subject_key_is_found_by_its_words(agent):
    acme = remember(
        "devops",
        "Invoices go to the finance mailbox",
        type="fact",
        scope="project",
        subject_key="acme-corp",
        visibility="shared",
    )
    checkout = remember(
        "devops",
        "Deploys need a feature flag",
        type="constraint",
        scope="service",
        subject_key="checkout-web",
        visibility="shared",
    )

    assert ids(retrieve("devops", "Acme invoices")) == [acme.id]
    assert ids(retrieve("devops", "deploying checkout")) == [checkout.id]


def test_another_agents_shared_memory_reaches_others_and_hazards_never_do(agent):
    AgentFactory(slug="security")
    shared = remember("security", "rotate the vault token weekly", visibility="shared")
    remember("security", "my private vault token hunch", visibility="private")
    for status in ("stale", "superseded", "archived"):
        remember("devops", f"{status} vault token advice", status=status)
    expired = remember("devops", "expired vault token advice")
    Memory.objects.filter(pk=expired.pk).update(expires_at=Now())

    assert ids(retrieve("devops", "vault token")) == [shared.id]


# The LLM call says which memories it carried and why.


def test_the_injected_record_says_why_each_memory_was_carried(agent):
    disk = remember("devops", "the disk on db-1 fills with logs every Friday")

    _, refs = memory_context("devops", "db-1 disk full")

    assert refs["memory_ids"] == [disk.id]
    (why,) = refs["memories"]
    assert (why["id"], why["bucket"]) == (disk.id, "context")
    assert why["score"] > 0 and {"disk", "db-1"} <= set(why["matched"])
    assert "disk" in refs["memory_query"]


# 7. The command line.


def test_search_takes_json_after_the_verb(agent):
    disk = remember("devops", "the disk on db-1 fills with logs")
    out = StringIO()

    call_command("memory", "search", "--agent", "devops", "--query", "disk", "--json", stdout=out)

    assert [row["id"] for row in json.loads(out.getvalue())] == [disk.id]
