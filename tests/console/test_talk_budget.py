"""Talking costs from the `talk` lane: spent, agents stay silent with the reason and the chat
still answers from the rows, saying no model answered."""

import pytest

from console.chat import send_message
from missions.threads import post_comment
from opscore.actions import set_policy
from opscore.models import LLMCall
from tests.factories import AgentFactory, make_step
from tests.opscore.test_llm_providers import anthropic_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def talk_spent(agent):
    lanes = {"talk": {"soft_usd": 0.01, "hard_usd": 0.05}}
    value = {"enabled": True, "per_agent_daily_usd": 10.0, "total_daily_usd": 10.0, "lanes": lanes}
    set_policy("llm_budget", value, actor="t", reason="test")
    LLMCall.objects.create(
        purpose="chat.answer",
        lane="talk",
        provider="anthropic",
        model="m",
        prompt_version="v",
        outcome="ok",
        cost_usd="0.06",
    )


def test_over_budget_the_agent_stays_silent_and_says_why(agent, talk_spent):
    step = make_step("analyze", agent=agent)
    remark = post_comment("mission", step.mission_id, actor="operator:ann", text="status?")
    assert not remark.replies.exists()
    assert remark.note.startswith("no reply from devops: the talk lane's daily LLM budget is spent")
    assert LLMCall.objects.filter(purpose="thread.reply", outcome="over_budget").count() == 1


def test_over_budget_the_chat_answers_with_the_rows_and_the_reason(
    agent, talk_spent, settings, monkeypatch
):
    settings.OPSCORE_LLM = "anthropic"
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with())  # never called
    AgentFactory(slug="coordinator", enabled=True)
    answer = send_message("what is running?", actor="operator:ann")
    assert answer.text.startswith("What the ledger says:\n- No mission is running")
    assert "(no model answer: the talk lane's daily LLM budget is spent" in answer.text
    assert answer.offline is True
