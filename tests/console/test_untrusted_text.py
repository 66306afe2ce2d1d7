"""Text a model, a chat or an outside runtime wrote reads on the Stage as it acts: a bidi
override or a zero-width character is named where it stands (⟨U+202E⟩), never obeyed, so
'go ‮evil' cannot read 'go live' on any page an operator decides from."""

import pytest

from missions.models import Artifact, Comment, Mission, StepAttempt
from missions.worker import handle_one_step
from opportunities.actions import alert_if_clear
from opportunities.models import Idea
from opscore.models import Event
from tests.factories import make_opportunity, make_step, propose

pytestmark = pytest.mark.django_db
HIDDEN = "go \u202eevil\u202c to\u200bday"
NAMED = "go ⟨U+202E⟩evil⟨U+202C⟩ to⟨U+200B⟩day"


def assert_named(page):
    text = page.content.decode()
    assert page.status_code == 200
    assert NAMED in text and "\u202e" not in text and "\u200b" not in text


def test_it_names_hidden_characters_in_a_post_the_approval_card_would_publish(admin_client, agent):
    propose(agent, "post_tweet", steps=[{"kind": "post_tweet", "payload": {"text": HIDDEN}}])

    assert_named(admin_client.get("/stage/approvals"))


def test_it_names_them_in_a_missions_inputs_outputs_and_errors(admin_client, agent):
    step = make_step("analyze", agent=agent, payload={"topic": HIDDEN})
    Artifact.objects.create(step=step, kind="analysis", title="t", body=f"wrote {HIDDEN}")
    StepAttempt.objects.create(step=step, attempt_no=1, worker_id="w1", error=f"lost {HIDDEN}")

    page = admin_client.get(f"/stage/missions/{step.mission_id}")

    assert_named(page)
    assert page.content.decode().count(NAMED) >= 3


def test_it_names_them_in_a_missions_playback(admin_client, agent):
    step = make_step("analyze", agent=agent, status="succeeded")
    Artifact.objects.create(step=step, kind="analysis", title="t", body=f"wrote {HIDDEN}")
    Event.objects.create(
        kind="step.succeeded", title=HIDDEN, summary=HIDDEN, step=step, mission=step.mission
    )

    page = admin_client.get(f"/stage/missions/{step.mission_id}/playback")

    assert_named(page)
    assert page.content.decode().count(NAMED) >= 3  # the event's title and summary, the output


def test_it_names_them_in_the_stages_missions_and_memory_panels(admin_client, agent):
    from memory.models import MemoryCandidate, MemoryReview

    step = make_step("analyze", agent=agent, last_error=f"lost {HIDDEN}")
    Artifact.objects.create(step=step, kind="analysis", title="t", body=f"wrote {HIDDEN}")
    candidate = MemoryCandidate.objects.create(
        source_agent=agent, kind="lesson", title=HIDDEN, body="b", evidence=[], confidence="0.8"
    )
    MemoryReview.objects.create(
        decision="reject", reviewer="gate", reason=HIDDEN, candidate=candidate
    )

    missions, memory = admin_client.get("/stage/missions"), admin_client.get("/stage/memory")

    assert_named(missions)
    assert missions.content.decode().count(NAMED) == 2  # the step's error, its output
    assert_named(memory)
    assert memory.content.decode().count(NAMED) == 2  # the candidate's title, the reason


def test_it_names_them_in_a_chat_draft_the_operator_would_submit(admin_client, agent):
    from console.models import ChatMessage

    draft = {"agent": "devops", "title": HIDDEN, "steps": [{"kind": "analyze", "payload": {}}]}
    draft["steps"][0]["payload"]["topic"] = HIDDEN
    ChatMessage.objects.create(
        actor="operator:operator",
        role="coordinator",
        text="A draft.",
        draft=draft,
        draft_state="drafted",
    )

    page = admin_client.get("/stage/chat")

    assert_named(page)
    assert page.content.decode().count(NAMED) == 2  # its title, its step's topic


def test_it_names_them_on_a_coding_run_waiting_for_a_person(admin_client, agent):
    from coding.models import CodingRun, Repository

    repo = Repository.objects.create(name="app", path="/tmp/nowhere", runners=["command"])
    CodingRun.objects.create(
        repository=repo,
        agent=agent,
        runner="command",
        base_ref="main",
        task={"summary": HIDDEN},
        status="waiting_for_review",
        head_sha="a" * 40,
        reason=HIDDEN,
        review={"decision": "complete", "sha": "a" * 40, "by": "devops", "reason": HIDDEN},
    )

    board, inbox = admin_client.get("/stage/coding"), admin_client.get("/stage/approvals")

    assert_named(board)
    assert board.content.decode().count(NAMED) == 3  # its task, its reason, its review's
    assert_named(inbox)


def test_it_names_them_in_the_title_of_a_thread_on_a_scouts_opportunity(admin_client, agent):
    opportunity = make_opportunity(agent, title=HIDDEN)

    assert_named(admin_client.get(f"/stage/threads/opportunity/{opportunity.id}"))


def test_it_names_them_in_what_a_conversation_left_behind(admin_client, crew):
    from roundtable.models import Conversation, Relationship

    talk = Conversation.objects.create(
        format="debate",
        topic="disks",
        participants=["devops", "security"],
        status="failed",
        error=f"distill failed: {HIDDEN}",
    )
    Relationship.objects.create(
        agent_a_id="devops",
        agent_b_id="security",
        drift_log=[{"reason": HIDDEN, "conversation": talk.id, "drift": 0.01, "affinity": 0.5}],
    )

    page = admin_client.get(f"/stage/conversations/{talk.id}")

    assert_named(page)
    assert page.content.decode().count(NAMED) == 2  # its error, the drift's reason


def test_it_names_them_in_the_offices_happening_now_and_its_live_moments(admin_client, agent):
    from console.stage.bridge import moment_of

    step = make_step("analyze", agent=agent, status="failed")
    failed = Event.objects.create(
        kind="step.failed", title="failed", summary=HIDDEN, step=step, mission=step.mission
    )

    assert_named(admin_client.get("/stage/office"))
    assert NAMED in moment_of(failed)["title"]  # the line the socket adds to the log


def test_it_names_them_in_an_agents_reply_on_a_thread(admin_client, agent):
    mission = Mission.objects.get(proposal=propose(agent, "noop"))
    Comment.objects.create(
        subject_kind="mission",
        subject_id=mission.id,
        kind="reply",
        agent=agent,
        actor="agent:devops",
        text=HIDDEN,
    )

    assert_named(admin_client.get(f"/stage/threads/mission/{mission.id}"))


def test_it_names_them_in_the_feed_and_the_lineage(admin_client, agent):
    mission = Mission.objects.get(proposal=propose(agent, "noop"))
    handle_one_step("w1")
    Event.objects.create(kind="ops.note", title=HIDDEN, agent=agent, mission=mission)

    assert_named(admin_client.get("/stage/events"))
    assert_named(admin_client.get(f"/stage/lineage/mission/{mission.id}"))


def test_it_names_them_on_a_scouts_opportunity_card_and_idea(admin_client, agent):
    make_opportunity(agent, title=HIDDEN, why_now=HIDDEN, suggested_next_step=HIDDEN)
    Idea.objects.create(source_agent=agent, theme="ops", title=HIDDEN, body="b", dedupe_key="i1")

    page = admin_client.get("/stage/opportunities")

    assert_named(page)
    assert page.content.decode().count(NAMED) >= 4


def test_it_names_them_in_an_alert_in_the_inbox(admin_client, agent):
    alert_if_clear(
        make_opportunity(agent, title=HIDDEN, why_now=HIDDEN, impact=5, confidence=5, urgency=5)
    )

    page = admin_client.get("/stage/inbox")

    assert_named(page)
    assert page.content.decode().count(NAMED) >= 3  # its title, its label, its body
