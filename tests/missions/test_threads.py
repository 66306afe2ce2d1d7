"""Threads: an operator's remark reaches the mission's next prompt and its agent answers; an
agent's question blocks its step until the operator answers or the wait runs out."""

from datetime import UTC, datetime, timedelta

import pytest

from missions.models import Comment, Step
from missions.provenance import comment_untrusted, event_untrusted
from missions.recovery import requeue_cleared_blockers
from missions.talk import TalkRefused
from missions.threads import post_comment, thread_of
from missions.worker import handle_one_step
from opscore.models import Event, LLMCall
from opscore.overrides import apply_override
from tests.factories import AgentFactory, make_step
from tests.opscore.test_llm_providers import anthropic_reply, anthropic_with
from tests.scripted import Scripted

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_comment_on_a_running_mission_reaches_the_next_steps_prompt(agent, monkeypatch):
    model = Scripted("Understood, EU only.", "The EU analysis.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    step = make_step("analyze", agent=agent, payload={"topic": "pricing"})

    remark = post_comment("mission", step.mission_id, actor="operator:ann", text="EU only, please")
    handle_one_step("w1")

    reply = remark.replies.get()
    assert (reply.kind, reply.agent_id, reply.text) == ("reply", "devops", "Understood, EU only.")
    assert LLMCall.objects.get(pk=reply.llm_call_id).purpose == "thread.reply"
    assert LLMCall.objects.get(pk=reply.llm_call_id).lane == "talk"
    prompt = model.requests[1].messages[0]["content"]
    assert "Comments from the operator on this mission's thread" in prompt
    assert "- operator:ann: EU only, please" in prompt
    assert Step.objects.get(pk=step.pk).status == "succeeded"
    event = Event.objects.get(kind="thread.comment", payload__comment_id=remark.id)
    assert event.mission_id == step.mission_id and event.payload["untrusted"] is True
    assert event_untrusted(event.id) == f"event {event.id} reports untrusted content"
    assert (
        comment_untrusted(reply.id) == f"thread text T{reply.id} by agent:devops on {reply.thread}"
    )


def test_the_offline_agent_answers_and_says_it_is_offline(agent):
    step = make_step("analyze", agent=agent)
    remark = post_comment("mission", step.mission_id, actor="operator:ann", text="how is it going?")
    reply = remark.replies.get()
    assert reply.text.startswith("[offline] I read your comment on M")


def test_an_at_mention_routes_the_comment_to_that_agent(agent, monkeypatch):
    monkeypatch.setattr("opscore.llm.get_provider", lambda: Scripted("Security here."))
    AgentFactory(slug="security")
    step = make_step("analyze", agent=agent)
    remark = post_comment(
        "proposal", step.mission.proposal_id, actor="operator:ann", text="@security look?"
    )
    assert remark.agent_id == "security"
    assert remark.mission_id == step.mission_id
    assert remark.replies.get().agent_id == "security"


def test_a_comment_on_a_closed_mission_is_kept_but_starts_no_work(agent):
    step = make_step("noop", agent=agent)
    handle_one_step("w1")
    remark = post_comment("mission", step.mission_id, actor="operator:ann", text="too late?")
    assert remark.starts_work is False
    assert remark.note == f"kept; starts no work: M{step.mission_id} is succeeded"
    assert not remark.replies.exists()
    assert not LLMCall.objects.exists()
    assert list(thread_of("mission", step.mission_id)) == [remark]


def test_overlong_and_too_frequent_comments_are_refused_with_a_reason(agent, settings):
    settings.OPS_TALK_MAX_CHARS, settings.OPS_TALK_PER_HOUR = 20, 2
    step = make_step("noop", agent=agent)
    with pytest.raises(TalkRefused, match="at most 20 characters"):
        post_comment("mission", step.mission_id, actor="operator:ann", text="x" * 21)
    post_comment("mission", step.mission_id, actor="operator:ann", text="one")
    post_comment("mission", step.mission_id, actor="operator:ann", text="two")
    with pytest.raises(TalkRefused, match="2 messages this hour"):
        post_comment("mission", step.mission_id, actor="operator:ann", text="three")
    post_comment("mission", step.mission_id, actor="operator:bob", text="another operator")
    refused = Event.objects.filter(kind="talk.refused").values_list("payload__reason", flat=True)
    assert len(refused) == 2 and "three" not in str(list(refused))
    with pytest.raises(TalkRefused, match="no mission 999999"):
        post_comment("mission", 999999, actor="operator:bob", text="hi")


def test_an_agents_question_blocks_its_step_until_the_operator_answers(agent, monkeypatch, clock):
    clock.freeze(NOON)
    seen = []
    model = anthropic_with(
        anthropic_reply("QUESTION: Which region should I price for?"),
        anthropic_reply("Noted, EU."),
        anthropic_reply("EU pricing: raise by 5%."),
        seen=seen,
    )
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    step = make_step("analyze", agent=agent, payload={"topic": "pricing"})

    handle_one_step("w1")
    step.refresh_from_db()
    question = Comment.objects.get(kind="question")
    assert (step.status, step.blocked_code) == ("blocked", "operator_answer")
    assert f"answer to T{question.id}" in step.blocked_reason
    assert question.text == "Which region should I price for?"
    assert requeue_cleared_blockers() == 0
    assert handle_one_step("w1") is False  # it waits

    answer = post_comment(
        "mission", step.mission_id, actor="operator:ann", text="The EU.", answers=question.id
    )
    assert answer.kind == "answer" and not answer.replies.exists()  # an answer needs no reply
    assert Step.objects.get(pk=step.pk).status == "queued"
    handle_one_step("w1")

    assert Step.objects.get(pk=step.pk).status == "succeeded"
    prompt = seen[-1]["messages"][0]["content"]
    assert "- Which region should I price for? — answered: The EU." in prompt
    assert question.question_state(NOON) == "answered"


def test_an_unanswered_question_lets_the_step_go_on_when_the_wait_runs_out(
    agent, monkeypatch, clock, settings
):
    clock.freeze(NOON)
    settings.OPS_QUESTION_WAIT_MINUTES = 30
    model = Scripted("QUESTION: May I use last year's data?", "Done without it.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    step = make_step("analyze", agent=agent)
    handle_one_step("w1")
    question = Comment.objects.get(kind="question")

    clock.freeze(NOON + timedelta(minutes=29))
    assert requeue_cleared_blockers() == 0
    clock.freeze(NOON + timedelta(minutes=30))
    assert requeue_cleared_blockers() == 1
    handle_one_step("w1")

    assert Step.objects.get(pk=step.pk).status == "succeeded"
    assert "no answer came before the wait ran out" in model.requests[1].messages[0]["content"]
    with pytest.raises(TalkRefused, match="is expired"):
        post_comment(
            "mission", step.mission_id, actor="operator:ann", text="yes", answers=question.id
        )


@pytest.mark.parametrize(
    "setting", ["SECRET_KEY", "OPS_METRICS_TOKEN", "OPS_WEBHOOK_URL", "EMAIL_HOST_PASSWORD"]
)
def test_a_secret_typed_into_a_thread_reaches_no_row_page_or_prompt(
    agent, monkeypatch, settings, setting
):
    secret = "s3cret-value-from-the-env-0123456789"
    setattr(settings, setting, secret)
    model = Scripted("Noted.", "The analysis.")
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)
    step = make_step("analyze", agent=agent, payload={"topic": "pricing"})

    remark = post_comment("mission", step.mission_id, actor="operator:ann", text=f"use {secret}")
    handle_one_step("w1")

    assert secret not in Comment.objects.get(pk=remark.pk).text
    assert not any(secret in str(r.system) + str(r.messages) for r in model.requests)
    assert not Event.objects.filter(title__contains=secret).exists()
    assert not Event.objects.filter(summary__contains=secret).exists()


def test_a_disabled_agent_does_not_answer_a_remark_and_the_remark_says_why(agent):
    """`disable-agent` stops the agent acting: no reply and no model call as it, whether the
    remark is on its own mission or names it with an @mention."""
    AgentFactory(slug="security")
    step = make_step("analyze", agent=agent)
    held = apply_override("disable-agent", "devops", reason="paging storm", actor="operator:t")
    apply_override("disable-agent", "security", reason="audit", actor="operator:t")

    own = post_comment("mission", step.mission_id, actor="operator:ann", text="how is it going?")
    named = post_comment("mission", step.mission_id, actor="operator:ann", text="@security ok?")

    assert not own.replies.exists() and not named.replies.exists()
    assert not LLMCall.objects.filter(purpose="thread.reply").exists()
    assert (
        own.note == f"no reply from devops: devops is disabled (override {held.id}: paging storm)"
    )
    assert named.note.startswith("no reply from security: security is disabled (override ")


@pytest.mark.parametrize("said", ["", "  \u200b\n"])
def test_a_reply_with_no_words_is_no_reply_and_its_call_a_bad_reply(agent, monkeypatch, said):
    """A model that answered nothing (or only characters that hide) was posted as the agent's
    reply, "(the model returned no text)" in its name, and its call counted ok; a step's empty
    reply is a bad reply. Now the remark says why no reply came, as any failed call does."""
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with(anthropic_reply(said)))
    step = make_step("analyze", agent=agent)

    remark = post_comment("mission", step.mission_id, actor="operator:ann", text="how is it?")

    assert not remark.replies.exists()
    assert remark.note == "no reply from devops: anthropic: the model returned no text"
    call = LLMCall.objects.get(purpose="thread.reply")
    assert (call.outcome, call.error) == ("bad_reply", "anthropic: the model returned no text")
