"""The chat with the company: answers come from the ledger's rows and cite them; a request for
work becomes a draft that reaches the intake only when its operator confirms it."""

import io
import json
import shlex
from decimal import Decimal

import pytest
from django.core.management import call_command

from console.chat import confirm_draft, discard_draft, send_message
from console.models import ChatMessage
from missions.decisions import approve_proposal
from missions.models import Mission, Proposal
from missions.talk import TalkRefused
from opscore.models import Event, LLMCall
from opscore.overrides import apply_override
from tests.factories import AgentFactory, OperatorFactory, make_step
from tests.opscore.test_llm_providers import anthropic_reply, anthropic_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator(db):
    return AgentFactory(slug="coordinator", enabled=True)


def test_offline_it_answers_from_the_ledger_says_it_is_offline_and_cites_rows(coordinator):
    step = make_step("analyze", agent=coordinator, payload={"topic": "disks"})
    Mission.objects.filter(pk=step.mission_id).update(status="running")

    answer = send_message("What is running right now?", actor="operator:ann")

    assert answer.text.startswith("[offline] No model is configured")
    assert f"M{step.mission_id} 'analyze work' (coordinator) is running: 1 queued." in answer.text
    assert answer.offline is True and answer.draft is None
    cited = {c["ref"]: c["url"] for c in answer.citations}
    assert cited[f"M{step.mission_id}"] == f"/stage/missions/{step.mission_id}"
    call = LLMCall.objects.get(pk=answer.llm_call_id)
    assert (call.purpose, call.lane, call.provider) == ("chat.answer", "talk", "offline")


def test_it_says_why_a_mission_failed_with_the_step_and_its_error(coordinator):
    step = make_step("crawl", agent=coordinator)
    step.finish("failed", "crawl refused: private address 10.0.0.1")
    step.mission.finalize()

    answer = send_message(f"why did M{step.mission_id} fail?", actor="operator:ann")

    assert f"S{step.id} crawl failed: crawl refused: private address 10.0.0.1" in answer.text
    refs = [c["ref"] for c in answer.citations]
    assert refs[:2] == [f"M{step.mission_id}", f"S{step.id}"]


def test_it_reports_todays_spend_citing_the_calls(coordinator, settings, clock):
    clock.midday()  # the call priced and the question asked on one day
    settings.OPS_LLM_PRICES = {"offline-cheap": (1_000_000, 0)}
    send_message("hello", actor="operator:ann")  # one priced call today
    answer = send_message("what did we spend today?", actor="operator:ann")
    assert "Model spend today: $" in answer.text and "talk $" in answer.text
    assert answer.citations[0]["ref"].startswith("L")
    assert answer.citations[0]["url"].startswith("/admin/opscore/llmcall/")


def test_a_request_for_work_is_a_draft_until_the_operator_confirms_it(coordinator):
    ann, bob = OperatorFactory(username="ann"), OperatorFactory(username="bob")
    answer = send_message("Please analyze why signups dropped", actor="operator:ann", user=ann)

    assert answer.draft_state == "drafted"
    assert answer.draft["steps"] == [
        {"kind": "analyze", "payload": {"topic": "Please analyze why signups dropped"}}
    ]
    assert "[offline]" in answer.text and "Confirm it to submit" in answer.text
    assert not Proposal.objects.exists()  # shown, not submitted
    with pytest.raises(TalkRefused, match="no draft"):
        confirm_draft(answer.id, actor="operator:bob", user=bob)  # not bob's chat

    result = confirm_draft(answer.id, actor="operator:ann", user=ann)

    proposal = result.proposal
    assert (proposal.source, proposal.status, proposal.untrusted) == ("chat", "pending", True)
    assert proposal.untrusted_reason.startswith("drafted by the chat from operator text")
    assert ChatMessage.objects.get(pk=answer.id).proposal == proposal
    with pytest.raises(TalkRefused, match="already submitted"):
        confirm_draft(answer.id, actor="operator:ann", user=ann)
    approve_proposal(proposal, actor="operator:bob", user=bob)
    assert Proposal.objects.get(pk=proposal.pk).status == "accepted"


def test_a_discarded_draft_never_reaches_the_intake(coordinator):
    answer = send_message("write a note about backups", actor="operator:ann")
    assert answer.draft["steps"][0]["kind"] == "write_content"
    discard_draft(answer.id, actor="operator:ann")
    with pytest.raises(TalkRefused, match="already discarded"):
        confirm_draft(answer.id, actor="operator:ann")
    assert not Proposal.objects.exists()


def test_a_model_answer_that_names_rows_it_was_not_given_is_replaced_by_the_rows(
    coordinator, monkeypatch, settings
):
    settings.OPSCORE_LLM = "anthropic"
    invented = json.dumps({"answer": "M999 is on fire.", "work": None})
    honest = json.dumps({"answer": "Nothing runs; see the ledger.", "work": None})
    seen = []
    model = anthropic_with(anthropic_reply(invented), anthropic_reply(honest), seen=seen)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)

    first = send_message("what is running?", actor="operator:ann")
    second = send_message("what is running?", actor="operator:ann")

    assert "on fire" not in first.text
    assert first.text.startswith("What the ledger says:\n- No mission is running")
    assert "the model named rows it was not given (M999)" in first.text
    assert second.text == "Nothing runs; see the ledger."
    assert "No mission is running or waiting to run." in seen[0]["messages"][0]["content"]
    assert second.offline is False


def test_a_model_can_turn_a_message_into_a_draft(coordinator, monkeypatch, settings):
    settings.OPSCORE_LLM = "anthropic"
    work = {"title": "Tweet the launch", "kind": "draft_tweet", "topic": "our launch"}
    body = json.dumps({"answer": "I drafted it; confirm to submit.", "work": work})
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with(anthropic_reply(body)))
    answer = send_message("we launched, tell the world", actor="operator:ann")
    assert answer.draft["title"] == "Tweet the launch"
    assert answer.draft["steps"][0] == {"kind": "draft_tweet", "payload": {"topic": "our launch"}}


def test_the_chat_page_links_only_same_site_or_web_citations(client):
    """A stored citation whose URL is a script (javascript:) or another scheme is shown as its
    name, not a link a click would run."""
    client.force_login(OperatorFactory(username="ann"))
    cited = [
        {"ref": "M1", "url": "/stage/missions/1", "what": "mission"},
        {"ref": "S2", "url": "javascript:alert(document.cookie)", "what": "step"},
        {"ref": "P3", "url": " JaVaScRiPt:alert(1)", "what": "proposal"},
        {"ref": "E4", "url": "data:text/html,<script>alert(1)</script>", "what": "event"},
        {"ref": "E5", "url": "//elsewhere.example/x", "what": "event"},
    ]
    ChatMessage.objects.create(actor="operator:ann", role="coordinator", text="hi", citations=cited)

    page = client.get("/stage/chat").content.decode()

    assert '<a href="/stage/missions/1" title="mission">M1</a>' in page
    assert "javascript:" not in page.lower() and "data:text" not in page
    assert "elsewhere.example" not in page
    assert not any(f"{ref}</a>" in page for ref in ("S2", "P3", "E4", "E5"))
    assert "M1</a>, S2, P3, E4, E5</p>" in page


def test_a_chat_message_stays_in_its_authors_chat_not_on_a_public_stage(client, coordinator):
    """The chat is its author's (signed in, their own history only), but each message's words
    were the title and summary of its feed event, which a public Stage shows anyone — on the
    page and pushed over its socket alike. The event says who wrote which message, not what."""
    send_message("is our Acme renewal at risk?", actor="operator:ann")

    page = client.get("/stage/").content.decode()
    event = Event.objects.get(kind="chat.message")

    assert "Acme" not in page and "operator:ann" in page
    assert "Acme" not in event.title + event.summary + json.dumps(event.payload)
    assert ChatMessage.objects.filter(text__contains="Acme renewal").exists()


def test_a_disabled_agent_does_not_answer_in_the_chat(coordinator):
    """`disable-agent` stops the agent acting: an @mention of it, or a disabled coordinator,
    is answered by an agent that is on, and no model call is made as the disabled one."""
    AgentFactory(slug="publisher", enabled=True)
    AgentFactory(slug="devops", enabled=True)
    apply_override("disable-agent", "publisher", reason="paging storm", actor="operator:t")

    named = send_message("@publisher what is running?", actor="operator:ann")
    apply_override("disable-agent", "coordinator", reason="quiet", actor="operator:t")
    unnamed = send_message("Please analyze our disks", actor="operator:ann")

    assert LLMCall.objects.get(pk=named.llm_call_id).agent_id == "coordinator"
    assert LLMCall.objects.get(pk=unnamed.llm_call_id).agent_id == "devops"
    assert unnamed.draft["agent"] == "devops"


@pytest.mark.parametrize("invented", ["G3 is on track.", "O7 was converted.", "R12 failed."])
def test_an_answer_naming_a_goal_opportunity_or_run_it_was_not_given_is_replaced_too(
    coordinator, monkeypatch, settings, invented
):
    """Only M, S, P and L ids were checked: a goal, an opportunity or a coding run the model
    made up (none is among the rows it is given) was shown as the ledger's word."""
    settings.OPSCORE_LLM = "anthropic"
    reply = anthropic_reply(json.dumps({"answer": invented, "work": None}))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with(reply))

    answer = send_message("what is running?", actor="operator:ann")

    assert invented not in answer.text
    assert answer.text.startswith("What the ledger says:\n- No mission is running")
    assert "the model named rows it was not given" in answer.text


def test_a_row_the_operator_named_may_be_named_back_though_the_chat_does_not_read_it(
    coordinator, monkeypatch, settings
):
    settings.OPSCORE_LLM = "anthropic"
    said = "I cannot see R12 from here; nothing is running."
    reply = anthropic_reply(json.dumps({"answer": said, "work": None}))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with(reply))

    answer = send_message("is R12 still running?", actor="operator:ann")

    assert answer.text == said


def test_chat_history_of_someone_who_has_not_talked_yet_says_so(coordinator):
    """`chat history` before a first `chat ask` was a KeyError traceback, not an answer."""
    from io import StringIO

    from django.core.management import call_command

    send_message("hello", actor="operator:ann")  # someone else's chat is not theirs
    out = StringIO()

    call_command("chat", "history", "--as", "bob", stdout=out)

    assert out.getvalue() == "No messages yet: start with `.venv/bin/opscore chat ask …`\n"


def test_the_cli_shows_the_words_a_draft_would_submit(coordinator, monkeypatch, settings):
    """`chat ask` printed a draft's title and step kinds alone, while `chat confirm` submits its
    steps' topics too, the model's words the Stage shows under the draft."""
    settings.OPSCORE_LLM = "anthropic"
    topic = "say every customer gets a full refund today"
    work = {"title": "Tweet the launch", "kind": "draft_tweet", "topic": topic}
    body = json.dumps({"answer": "I drafted it; confirm to submit.", "work": work})
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with(anthropic_reply(body)))
    out = io.StringIO()

    call_command("chat", "--as", "ann", "ask", "we launched, tell the world", stdout=out)

    assert f"    draft_tweet: {topic}" in out.getvalue().splitlines()


def test_a_draft_the_intake_refuses_at_confirm_time_leaves_a_row_saying_why(coordinator):
    answer = send_message("Please analyze why signups dropped", actor="operator:ann")
    # the agent it names is gone since it was shown (the row, as a deleted agent leaves it)
    ChatMessage.objects.filter(pk=answer.id).update(draft=answer.draft | {"agent": "gone"})

    with pytest.raises(TalkRefused, match="the intake refused draft"):
        confirm_draft(answer.id, actor="operator:ann")

    refused = Event.objects.get(kind="chat.draft_refused")
    assert refused.actor == "operator:ann"
    assert "unknown agent 'gone'" in refused.payload["reason"]
    assert refused.payload["chat_message_id"] == answer.id
    assert not Proposal.objects.exists()


def test_an_agent_disabled_while_its_chat_answer_is_written_gives_none(coordinator, monkeypatch):
    """As a thread reply: the switch is asked again once the model's answer is back, and an
    answer (or a draft) written as an agent that was disabled meanwhile is not shown as its."""
    from tests.scripted import SwitchedMidCall

    def throw():
        return apply_override("disable-agent", "coordinator", reason="quiet", actor="operator:t")

    work = {"title": "Tweet the launch", "kind": "draft_tweet", "topic": "our launch"}
    body = json.dumps({"answer": "Done: I drafted the tweet.", "work": work})
    provider = SwitchedMidCall(throw, body)
    monkeypatch.setattr("opscore.llm.get_provider", lambda: provider)

    answer = send_message("Please draft a tweet about our launch", actor="operator:ann")

    override = provider.thrown[0]
    assert "Done: I drafted" not in answer.text and answer.draft is None
    assert f"coordinator is disabled (override {override.id}: quiet)" in answer.text
    assert "while its answer was being written" in answer.text
    assert LLMCall.objects.get(purpose="chat.answer").outcome == "ok"  # billed, and kept


def test_todays_spend_in_the_chat_is_the_status_pages_live_replays_included(coordinator, settings):
    """A live replay's calls leave no row (rolled back) but their cost is the day's (status,
    the Stage, the budget): the chat summed the rows alone and said less was spent."""
    from opscore.budgets import add_to_todays_spend, spent_today_usd

    settings.OPS_LLM_PRICES = {"offline-cheap": (1_000_000, 0)}
    send_message("hello", actor="operator:ann")  # one priced call today
    add_to_todays_spend("devops", "steps", Decimal("2.5"), 3)  # what a live replay spent

    answer = send_message("what did we spend today?", actor="operator:ann")

    assert f"Model spend today: ${spent_today_usd():.4f} in all" in answer.text
    assert "live replays $2.5000" in answer.text


def test_long_rows_given_back_for_an_invented_id_are_still_an_answer(
    coordinator, monkeypatch, settings
):
    """The rows that replace an answer naming a row it was not given may run past an answer's
    8000 characters (long step errors): they were checked as one and the message failed."""
    settings.OPSCORE_LLM = "anthropic"
    for n in range(4):
        step = make_step("crawl", agent=coordinator)
        step.finish("failed", f"crawl {n} refused: " + "x" * 3000)
        step.mission.finalize()
    reply = anthropic_reply(json.dumps({"answer": "M999 is on fire.", "work": None}))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: anthropic_with(reply))

    answer = send_message("why did they fail?", actor="operator:ann")

    assert "on fire" not in answer.text and "crawl 3 refused" in answer.text
    assert "the model named rows it was not given (M999)" in answer.text


def test_the_confirm_line_chat_ask_prints_works_as_pasted_for_the_asker_it_names(coordinator):
    """`chat --as bob ask "Please analyze …"` ended with `submit it: … chat confirm 4`, and that
    line, pasted, answered "no draft C4 in your chat": it confirmed as the default name, not bob.
    The line names who asked, quoted for the shell, as the one that works."""
    asked = io.StringIO()
    call_command("chat", "--as", "bob o'neil", "ask", "Please analyze our disk usage", stdout=asked)
    line = asked.getvalue().splitlines()[-1]

    assert line.startswith("  submit it: .venv/bin/opscore chat confirm ")
    args = shlex.split(line.removeprefix("  submit it: .venv/bin/opscore "))
    call_command(*args, stdout=io.StringIO())

    assert Proposal.objects.get(source="chat").title == "Please analyze our disk usage"


def test_the_confirm_line_for_the_default_asker_stays_short(coordinator):
    asked = io.StringIO()
    call_command("chat", "ask", "Please analyze our disk usage", stdout=asked)
    answer = ChatMessage.objects.exclude(role="operator").get()

    assert asked.getvalue().splitlines()[-1] == (
        f"  submit it: .venv/bin/opscore chat confirm {answer.id}"
    )


def test_a_model_answer_that_is_no_json_is_one_line_and_the_rows(
    coordinator, monkeypatch, settings
):
    """A model that answers in prose (or cut-off JSON) instead of the JSON asked for: the reply
    fits no schema, and the chat raised it, a 500 to the operator and a traceback in the log,
    while its LLM call stayed `ok`."""
    settings.OPSCORE_LLM = "anthropic"
    model = anthropic_with(anthropic_reply("Nothing is running right now."))
    monkeypatch.setattr("opscore.llm.get_provider", lambda: model)

    answer = send_message("what is running?", actor="operator:ann")

    assert answer.text.startswith("What the ledger says:\n- No mission is running")
    assert "(no model answer: malformed chat reply: " in answer.text
    assert answer.text.count("\n(") == 1 and answer.draft is None
    call = LLMCall.objects.get(purpose="chat.answer")
    assert call.outcome == "bad_reply" and call.error.startswith("malformed chat reply")
