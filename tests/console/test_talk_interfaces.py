"""Threads and the chat from the Stage, the admin, the API and the CLI: the same actions,
refusals shown in place, hostile text inert."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from console.models import ChatMessage
from missions.models import Comment, Proposal
from tests.factories import AgentFactory, make_step
from tests.opscore.test_llm_providers import anthropic_reply, anthropic_with

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
HOSTILE = "<script>window.pwned = 1</script>"


def post(client, path, body, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


def test_the_stage_thread_takes_a_comment_and_answers_a_question(admin_client, agent, monkeypatch):
    step = make_step("analyze", agent=agent)
    page = f"/stage/threads/mission/{step.mission_id}"
    answer = admin_client.post(f"{page}/comment", {"text": f"careful {HOSTILE}"})
    assert answer.status_code == 302

    shown = admin_client.get(page)
    html = shown.content.decode()
    assert shown.status_code == 200 and HOSTILE not in html and "&lt;script&gt;" in html
    assert "[offline] I read your comment on M" in html
    assert "Content-Security-Policy" in shown.headers

    monkeypatch.setattr(
        "opscore.llm.get_provider", lambda: anthropic_with(anthropic_reply("QUESTION: EU or US?"))
    )
    from missions.worker import handle_one_step

    handle_one_step("w1")
    question = Comment.objects.get(kind="question")
    assert "Question open" in admin_client.get(page).content.decode()
    mission_page = admin_client.get(f"/stage/missions/{step.mission_id}").content.decode()
    assert "answer it on the thread" in mission_page
    admin_client.post(f"{page}/comment", {"text": "EU", "answers": str(question.id)})
    assert question.answer().text == "EU"
    refused = admin_client.post(f"{page}/comment", {"text": "again", "answers": str(question.id)})
    assert refused.status_code == 400 and "is answered" in refused.content.decode()


@pytest.mark.parametrize("answers", ["²", "0", "x"])
def test_the_stage_refuses_an_answer_to_no_question_id_in_place(admin_client, agent, answers):
    step = make_step("analyze", agent=agent)
    page = f"/stage/threads/mission/{step.mission_id}"

    refused = admin_client.post(f"{page}/comment", {"text": "EU", "answers": answers})

    assert refused.status_code == 400 and "expected a question id" in refused.content.decode()
    assert not Comment.objects.exists()


def test_a_thread_page_for_nothing_is_a_404_and_writing_needs_a_login(client, admin_client):
    missing = admin_client.get("/stage/threads/mission/999999")
    unknown = admin_client.get("/stage/threads/planet/1")

    assert missing.status_code == 404 and unknown.status_code == 404
    assert "There is no thread mission:999999." in missing.content.decode()
    assert "There is no thread planet:1." in unknown.content.decode()
    client.logout()
    assert client.post("/stage/threads/mission/1/comment", {"text": "x"}).status_code == 302


def test_the_api_answers_404_for_a_thread_on_nothing_whether_read_or_written(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    for path in ("/api/ops/threads/mission/999999", "/api/ops/threads/planet/1"):
        read, written = client.get(path), post(client, path, {"text": "hello?"})

        assert read.status_code == written.status_code == 404, path
        assert read.json()["error"] == written.json()["error"]
    assert not Comment.objects.exists()


@pytest.mark.parametrize("answers", [0, -3, True, False, "1", 1.5])
def test_an_answer_naming_no_question_id_is_refused_not_taken_as_a_remark(
    client, settings, agent, answers
):
    settings.OPS_API_TOKEN = TOKEN
    step = make_step("analyze", agent=agent)

    refused = post(
        client, f"/api/ops/threads/mission/{step.mission_id}", {"text": "EU", "answers": answers}
    )

    assert refused.status_code == 400
    assert refused.json()["errors"] == {"answers": ["expected a question id"]}
    assert not Comment.objects.exists()


def test_the_stage_refuses_an_answer_to_question_zero(admin_client, agent):
    step = make_step("analyze", agent=agent)

    refused = admin_client.post(
        f"/stage/threads/mission/{step.mission_id}/comment", {"text": "EU", "answers": "0"}
    )

    assert refused.status_code == 400
    assert not Comment.objects.exists()


def test_the_stage_chat_drafts_and_confirms_a_proposal(admin_client):
    AgentFactory(slug="coordinator", enabled=True)
    admin_client.post("/stage/chat/send", {"text": "Please research competitor pricing"})
    draft = ChatMessage.objects.get(role="coordinator")
    page = admin_client.get("/stage/chat").content.decode()
    assert "Submit to the intake" in page and "competitor pricing" in page
    assert not Proposal.objects.exists()

    admin_client.post(f"/stage/chat/{draft.id}/confirm")

    proposal = Proposal.objects.get()
    assert (proposal.source, proposal.status, proposal.operator.username) == (
        "chat",
        "pending",
        "operator",
    )
    assert f"P{proposal.id}" in admin_client.get("/stage/chat").content.decode()
    again = admin_client.post(f"/stage/chat/{draft.id}/confirm")
    assert again.status_code == 400 and "already submitted" in again.content.decode()
    empty = admin_client.post("/stage/chat/send", {"text": "  "})
    assert empty.status_code == 400 and "a message needs text" in empty.content.decode()


def test_the_cli_answers_a_comment_with_what_the_api_answers(client, agent, settings):
    """`thread --json comment` printed the thread alone, where POST …/threads/… answers
    `{"comment", "reply"}`: a script found its comment's id only by searching the thread."""
    settings.OPS_API_TOKEN = TOKEN
    step = make_step("analyze", agent=agent)
    out = io.StringIO()

    call_command("thread", "--json", "comment", "mission", str(step.mission_id), "hi", stdout=out)
    said = json.loads(out.getvalue())
    answered = post(client, f"/api/ops/threads/mission/{step.mission_id}", {"text": "hi"}).json()

    assert said.keys() >= answered.keys()
    assert said["comment"]["text"] == "hi" and said["reply"]["agent"] == "devops"


def test_the_api_comments_chats_and_confirms_with_the_token(client, agent, settings):
    settings.OPS_API_TOKEN = TOKEN
    AgentFactory(slug="coordinator", enabled=True)
    step = make_step("analyze", agent=agent)
    thread = f"/api/ops/threads/mission/{step.mission_id}"

    assert post(client, thread, {"text": "hi"}, token="").status_code == 401
    made = post(client, thread, {"text": "hi", "actor": "ann"})
    assert made.status_code == 201 and made.json()["reply"]["agent"] == "devops"
    assert [c["kind"] for c in client.get(thread).json()["comments"]] == ["remark", "reply"]
    assert post(client, thread, {"text": 5}).status_code == 400

    said = post(client, "/api/ops/chat", {"text": "what is running?", "actor": "ann"})
    assert (
        said.status_code == 201
        and said.json()["answer"]["citations"][0]["ref"] == f"M{step.mission_id}"
    )
    work = post(
        client, "/api/ops/chat", {"text": "draft a tweet about uptime", "actor": "ann"}
    ).json()
    assert work["answer"]["draft_state"] == "drafted"
    other = post(client, f"/api/ops/chat/{work['answer']['id']}/confirm", {"actor": "bob"})
    assert other.status_code == 404
    done = post(client, f"/api/ops/chat/{work['answer']['id']}/confirm", {"actor": "ann"})
    assert done.status_code == 201 and done.json()["proposal"]["status"] == "pending"


@pytest.mark.parametrize("verb", ["confirm", "discard"])
def test_the_api_answers_a_draft_it_cannot_find_404_and_a_settled_one_409(client, settings, verb):
    """Both were a 400 ("bad input"), though the body was right: the proposals API answers 404
    for no such row and 409 once it is decided, and a client retries neither."""
    settings.OPS_API_TOKEN = TOKEN
    AgentFactory(slug="coordinator", enabled=True)
    said = post(client, "/api/ops/chat", {"text": "draft a tweet about uptime", "actor": "ann"})
    draft = f"/api/ops/chat/{said.json()['answer']['id']}"

    missing = post(client, "/api/ops/chat/99999/" + verb, {"actor": "ann"})
    assert missing.status_code == 404 and missing.json()["error"] == "no draft C99999 in your chat"
    assert post(client, f"{draft}/{verb}", {"actor": "bob"}).status_code == 404
    assert post(client, f"{draft}/{verb}", {"actor": "ann"}).status_code in (200, 201)
    for again in ("confirm", "discard"):
        settled = post(client, f"{draft}/{again}", {"actor": "ann"})
        assert settled.status_code == 409 and "is already" in settled.json()["error"]


def test_the_cli_chats_and_comments(agent):
    AgentFactory(slug="coordinator", enabled=True)
    step = make_step("analyze", agent=agent)
    out = io.StringIO()

    call_command("chat", "ask", "Please analyze the backlog", stdout=out)
    draft = ChatMessage.objects.get(role="coordinator")
    assert f".venv/bin/opscore chat confirm {draft.id}" in out.getvalue()
    call_command("chat", "confirm", str(draft.id), "--json", stdout=out)
    assert '"status": "pending"' in out.getvalue()

    call_command("thread", "comment", "mission", str(step.mission_id), "go on", stdout=out)
    call_command("thread", "--json", "show", "mission", str(step.mission_id), stdout=out)
    assert '"actor": "operator:cli"' in out.getvalue()
    with pytest.raises(CommandError, match="no mission 999999"):
        call_command("thread", "show", "mission", "999999")


def test_thread_show_json_tells_its_subject_as_the_api_does(client, agent):
    step = make_step("analyze", agent=agent)
    out = io.StringIO()

    call_command("thread", "--json", "show", "mission", str(step.mission_id), stdout=out)

    api = client.get(f"/api/ops/threads/mission/{step.mission_id}").json()
    shown = json.loads(out.getvalue())
    assert shown["subject"] == api["subject"]
    assert shown["subject"]["id"] == step.mission_id and shown["subject"]["agent"] == "devops"


def test_the_admin_adds_a_comment_through_the_thread_action(
    admin_client, agent, django_capture_on_commit_callbacks
):
    step = make_step("analyze", agent=agent)
    with django_capture_on_commit_callbacks(execute=True):  # the reply follows the commit
        answer = admin_client.post(
            "/admin/missions/comment/add/",
            {"subject_kind": "mission", "subject_id": step.mission_id, "text": "from the admin"},
        )
    assert answer.status_code == 302
    remark = Comment.objects.get(kind="remark")
    assert (remark.actor, remark.replies.count()) == ("operator:operator", 1)
    listed = admin_client.get("/admin/missions/comment/?question=open")
    assert listed.status_code == 200
    refused = admin_client.post(
        "/admin/missions/comment/add/",
        {"subject_kind": "mission", "subject_id": 999999, "text": "x"},
    )
    assert refused.status_code == 200 and "no mission 999999" in refused.content.decode()
    assert admin_client.get(f"/admin/missions/comment/{remark.id}/change/").status_code == 200
    assert admin_client.get("/admin/console/chatmessage/").status_code == 200


def test_an_api_callers_name_is_kept_without_characters_that_hide_or_reorder_it(
    client, agent, settings
):
    """The name goes into the ledger and onto every operator's pages: 'api:\u202eevil' read
    'api:live' there, and a newline broke the line it was shown on."""
    settings.OPS_API_TOKEN = TOKEN
    step = make_step("analyze", agent=agent)

    made = post(
        client,
        f"/api/ops/threads/mission/{step.mission_id}",
        {"text": "hi", "actor": "\u202eev\u200bil\nops"},
    )

    assert made.status_code == 201
    assert Comment.objects.get(kind="remark").actor == "api:evil ops"
    assert made.json()["comment"]["actor"] == "api:evil ops"


def test_a_talk_body_with_a_field_it_does_not_take_is_refused_and_writes_nothing(
    client, agent, settings
):
    """`POST /api/ops/chat {"text", "actr": "ann"}` was answered 201 as `api:operator`, the
    misspelt field dropped without a word (the same on a thread, a draft and a conversation),
    while every other endpoint refuses a field it does not take."""
    from roundtable.models import Conversation

    settings.OPS_API_TOKEN = TOKEN
    AgentFactory(slug="coordinator", enabled=True)
    step = make_step("analyze", agent=agent)
    draft = post(client, "/api/ops/chat", {"text": "draft a tweet about uptime"}).json()
    bodies = {
        "/api/ops/chat": {"text": "what is running?", "actr": "ann"},
        f"/api/ops/threads/mission/{step.mission_id}": {"text": "hi", "actr": "ann"},
        f"/api/ops/chat/{draft['answer']['id']}/confirm": {"actr": "ann"},
        "/api/ops/conversations": {
            "format": "debate",
            "topic": "approvals",
            "participants": ["devops", "coordinator"],
            "rounds": 3,
        },
    }
    before = (ChatMessage.objects.count(), Proposal.objects.count())

    answers = {path: post(client, path, body) for path, body in bodies.items()}

    assert {p: a.status_code for p, a in answers.items()} == dict.fromkeys(bodies, 400)
    assert all("unknown fields" in a.json()["errors"]["body"][0] for a in answers.values())
    assert (ChatMessage.objects.count(), Proposal.objects.count()) == before
    assert not Comment.objects.exists() and not Conversation.objects.exists()


def test_thread_show_prints_a_comment_so_it_cannot_pass_for_another(client, agent, settings):
    """A remark's own lines (or a lone carriage return) printed raw made `thread show` list a
    reply the agent never wrote; each comment's later lines are indented, controls named."""
    settings.OPS_API_TOKEN = TOKEN
    step = make_step("analyze", agent=agent)
    forged = "fine\nT999 reply agent:devops: approved, deploying to prod\r\x9b2J"
    said = post(client, f"/api/ops/threads/mission/{step.mission_id}", {"text": forged})
    assert said.status_code == 201, said.content
    out = io.StringIO()

    call_command("thread", "show", "mission", str(step.mission_id), stdout=out)

    lines = out.getvalue().splitlines()
    assert not [line for line in lines if line.startswith("T999")]
    assert "    T999 reply agent:devops: approved, deploying to prod⟨U+000D⟩⟨U+009B⟩2J" in lines
    assert "\r" not in out.getvalue() and "\x9b" not in out.getvalue()


def test_the_stage_chat_says_what_became_of_a_submitted_draft_not_always_that_it_waits(
    admin_client,
):
    """The page said 'it waits for an approver' under every submitted draft: one the intake
    refused at once (its agent since disabled), and one already approved."""
    from missions.decisions import approve_proposal
    from opscore.overrides import apply_override
    from tests.factories import OperatorFactory

    AgentFactory(slug="coordinator", enabled=True)
    admin_client.post("/stage/chat/send", {"text": "Please research competitor pricing"})
    admin_client.post("/stage/chat/send", {"text": "Please analyze our churn"})
    first, second = ChatMessage.objects.filter(role="coordinator").order_by("id")
    admin_client.post(f"/stage/chat/{first.id}/confirm")
    bob = OperatorFactory(username="bob")
    approve_proposal(Proposal.objects.get(), actor="operator:bob", user=bob)
    apply_override("disable-agent", "coordinator", reason="paging storm", actor="operator:t")
    admin_client.post(f"/stage/chat/{second.id}/confirm")

    page = admin_client.get("/stage/chat").content.decode()

    approved, refused = Proposal.objects.order_by("id")
    assert (approved.status, refused.status) == ("accepted", "rejected")
    assert "it waits for an approver" not in page
    assert f"P{approved.id}</a> (accepted)" in page
    assert f"P{refused.id}</a> (rejected): Agent coordinator is disabled" in page


def test_the_chat_names_the_agent_that_answered_not_always_the_coordinator(admin_client):
    """An @mention is answered by that agent, in its voice: the page labelled it Coordinator."""
    AgentFactory(slug="coordinator", enabled=True)
    AgentFactory(slug="security", enabled=True)
    admin_client.post("/stage/chat/send", {"text": "@security is the firewall change risky?"})
    admin_client.post("/stage/chat/send", {"text": "what is running?"})

    page = admin_client.get("/stage/chat").content.decode()

    named, unnamed = ChatMessage.objects.filter(role="coordinator").order_by("id")
    assert f'id="C{named.id}">\n      <b>security</b>' in page
    assert f'id="C{unnamed.id}">\n      <b>coordinator</b>' in page
