"""Memories cost a step no statement of their own (issue 32): retrieval is one round trip that
also flags what a real model must not see, and the call row counts the use. A step for a real
model that carries memories sends exactly the statements of one whose query matches none."""

from decimal import Decimal

import httpx2
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memory import retrieval
from memory.models import Memory
from memory.uses import fold_memory_uses
from missions import staleness
from missions.worker import handle_one_step
from opscore import llm
from opscore.models import LLMCall
from tests.factories import make_step

pytestmark = pytest.mark.django_db

REPLY = {
    "id": "m",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [{"type": "text", "text": "Rotate the logs."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "output_tokens": 5},
}


@pytest.fixture
def real_model(monkeypatch, settings):
    settings.OPSCORE_LLM = "anthropic"
    fake = httpx2.MockTransport(lambda r: httpx2.Response(200, json=REPLY))
    monkeypatch.setattr(llm, "get_provider", lambda: llm.AnthropicProvider("sk-t", fake))


def remember(content, trace, **fields):
    return Memory.objects.create(
        agent_id="devops",
        type="lesson",
        scope="agent",
        content=content,
        confidence=Decimal("0.70"),
        source_trace_id=trace,
        **fields,
    )


def statements_of_step(agent, topic) -> int:
    make_step("analyze", agent=agent, payload={"topic": topic})
    with CaptureQueriesContext(connection) as queries:
        assert handle_one_step("w1")
    return len(queries.captured_queries)


def test_memories_add_no_statement_to_a_real_models_step(agent, real_model, monkeypatch):
    # What ANALYZE found common is copied at most every 30 s to 10 min per process: under load
    # that moment fell between the two steps compared, one statement apart. Not what this counts.
    monkeypatch.setattr(retrieval, "learn_common_lexemes", lambda: 0)
    served = remember("the disk on db-1 fills with logs every Friday", "s1")
    withheld = remember("db-1 disk notes from an offline day", "s2", tags=["offline"])
    statements_of_step(agent, "printer toner")  # warm: caches every step reads once per process
    # The recovery policy is re-read every few seconds by the clock: on a loaded machine that
    # fell in one of the two steps compared (15 == 16). The count is the test, never the time.
    monkeypatch.setattr(staleness, "REREAD_SECONDS", float("inf"))

    without = statements_of_step(agent, "printer toner")
    with_memories = statements_of_step(agent, "db-1 disk full")

    assert with_memories == without
    carried = LLMCall.objects.latest("id").injected["memory_ids"]
    assert served.id in carried and withheld.id not in carried
    fold_memory_uses()
    served.refresh_from_db()
    withheld.refresh_from_db()
    assert (served.use_count, withheld.use_count) == (1, 0)
