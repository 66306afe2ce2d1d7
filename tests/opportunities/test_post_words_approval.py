"""A post approves the words it posts: a post_tweet that posts a draft no approval showed waits
for a person to approve those exact words (their sha256), and posts them and only them."""

import pytest
from django.contrib.auth.models import Permission, User

from missions.actions import DecisionRefused, submit_proposal
from missions.decisions import approve_proposal
from missions.models import (
    Artifact,
    OutboxMessage,
    Publication,
    Step,
    WordsApproval,
    text_digest,
)
from missions.outbox import deliver_pending
from missions.step_actions import retry_step
from missions.words import WordsRefused, approve_words, decide_words, refuse_words, words_card
from missions.worker import handle_one_step
from opscore.models import Event
from opscore.overrides import apply_override, lift_override
from tests.factories import AgentFactory, make_step, propose

pytestmark = pytest.mark.django_db
DRAFT_THEN_POST = [
    {"kind": "draft_tweet", "payload": {"topic": "our launch"}},
    {"kind": "post_tweet", "depends_on": [0]},
]


def approved_draft_and_post(actor="operator:ann", steps=DRAFT_THEN_POST):
    """A person approves draft + post before any words exist; the model then drafts."""
    agent = AgentFactory(slug="publisher", max_concurrent_steps=10)
    data = {"agent": agent.slug, "title": "Announce the launch", "steps": steps}
    proposal = submit_proposal(data, source="api").proposal
    approve_proposal(proposal, actor=actor)
    handle_one_step("w1")  # the draft: the (offline) model's words
    handle_one_step("w1")  # the post
    deliver_pending()
    return Step.objects.get(kind="post_tweet", mission__proposal=proposal)


def test_words_written_after_the_approval_are_not_posted(db):
    post = approved_draft_and_post()

    assert not OutboxMessage.objects.exists() and not Publication.objects.exists()
    assert (post.status, post.blocked_code) == ("blocked", "words_approval")
    assert "approve its words" in post.blocked_reason
    assert f": .venv/bin/opscore words approve {post.id} --digest " in post.blocked_reason  # pasted


def approver(name="alice"):
    user = User.objects.create_user(name, password="x")
    user.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    return user


def drafted(post) -> str:
    return Artifact.objects.get(step__dependents=post, kind="draft_tweet").body


def test_approved_words_are_posted_exactly(db):
    post = approved_draft_and_post()
    words = drafted(post)

    approve_words(post.id, user=approver(), digest=text_digest(words))
    handle_one_step("w1")
    deliver_pending()

    assert Publication.objects.get().body == words
    row = WordsApproval.objects.get(step=post)
    assert (row.decision, row.decided_by, row.digest) == (
        "approved",
        "operator:alice",
        text_digest(words),
    )


def test_a_draft_changed_after_its_words_were_approved_is_held_again(db):
    post = approved_draft_and_post()
    approve_words(post.id, user=approver(), digest=text_digest(drafted(post)))
    draft = post.depends_on.get()
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body="Buy EVIL now")

    handle_one_step("w1")
    deliver_pending()

    post.refresh_from_db()
    assert (post.status, post.blocked_code) == ("blocked", "words_approval")
    assert text_digest("Buy EVIL now")[:12] in post.blocked_reason
    assert not OutboxMessage.objects.exists()


def test_words_other_than_the_ones_shown_are_refused(db):
    post = approved_draft_and_post()

    with pytest.raises(WordsRefused, match="not the ones shown to you") as refused:
        approve_words(post.id, user=approver(), digest=text_digest("what I read"))

    assert refused.value.status == 409
    post.refresh_from_db()
    assert post.status == "blocked" and not WordsApproval.objects.exists()


def test_only_a_person_who_may_approve_proposals_approves_words(db):
    post = approved_draft_and_post()
    bob = User.objects.create_user("bob", password="x")

    with pytest.raises(WordsRefused, match="needs: can approve proposals — bob can't") as no:
        decide_words(post.id, user=bob, approve=True, digest=text_digest(drafted(post)))

    assert no.value.status == 403
    assert Event.objects.filter(kind="step.words_decision_refused", step=post).exists()


def test_refused_words_fail_the_step_for_good_with_the_reason(db):
    post = approved_draft_and_post()

    refuse_words(post.id, user=approver(), reason="off-brand")

    post.refresh_from_db()
    assert (
        post.status == "failed" and post.last_error == "words refused by operator:alice: off-brand"
    )
    assert WordsApproval.objects.get(step=post).reason == "off-brand"
    assert post.mission.status == "failed" and not OutboxMessage.objects.exists()


def test_refused_words_cancel_the_steps_waiting_on_the_post(db):
    """They can never run: left queued, the mission never ended."""
    then = {"kind": "analyze", "payload": {"topic": "reach"}, "depends_on": [1]}
    post = approved_draft_and_post(steps=[*DRAFT_THEN_POST, then])

    refuse_words(post.id, user=approver(), reason="off-brand")

    after = Step.objects.get(mission=post.mission, kind="analyze")
    assert (after.status, after.last_error) == ("cancelled", f"dependency S{post.id} ended failed")
    assert Step.objects.get(pk=post.pk).mission.status == "failed"


def test_a_post_whose_words_were_refused_no_longer_reads_as_waiting_for_them(db, client):
    """Failed by the refusal, it still said 'blocked: … approve its words' on the Stage."""
    post = approved_draft_and_post()

    refuse_words(post.id, user=approver(), reason="off-brand")

    post.refresh_from_db()
    assert (post.blocked_reason, post.blocked_code) == ("", "")
    page = client.get(f"/stage/missions/{post.mission_id}").content.decode()
    assert "words refused by operator:alice: off-brand" in page
    assert " · blocked:" not in page  # the attempt that was held keeps saying so, as history


def test_a_paused_publishing_lane_still_holds_a_post_whose_words_are_approved(db):
    post = approved_draft_and_post()
    pause = apply_override("pause_lane", "publishing", reason="quiet", actor="operator:ann")

    approve_words(post.id, user=approver(), digest=text_digest(drafted(post)))
    handle_one_step("w1")
    deliver_pending()

    assert not OutboxMessage.objects.exists()
    lift_override(pause.id, actor="operator:ann", reason="back")
    handle_one_step("w1")
    assert OutboxMessage.objects.get().payload["text"] == drafted(post)


def post_of_a_written_draft():
    """A pending post of an existing draft: its card shows the draft's words."""
    publisher = AgentFactory(slug="publisher")
    draft = make_step("draft_tweet", agent=publisher, status="succeeded")
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body="We shipped")
    posting = propose(publisher, steps=[{"kind": "post_tweet", "after_steps": [draft.id]}])
    return draft, posting, posting.content_digest()


def test_draft_words_shown_on_the_card_are_approved_with_the_proposal(db):
    _, posting, shown = post_of_a_written_draft()

    approve_proposal(posting, actor="operator:alice", shown_digest=shown)
    handle_one_step("w1")

    assert OutboxMessage.objects.get().payload["text"] == "We shipped"
    assert WordsApproval.objects.get().decided_by == "operator:alice"


def test_a_card_shown_before_a_newer_draft_approves_nothing(db):
    draft, posting, shown = post_of_a_written_draft()
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body="Buy EVIL now")

    with pytest.raises(DecisionRefused, match="changed after it was shown to you"):
        approve_proposal(posting, actor="operator:alice", shown_digest=shown)


def test_an_approval_naming_no_digest_approves_no_words(db):
    """The CLI's and the API's approve without --digest showed nobody the draft: a newer one
    written before it was approved is held for a person, not posted as 'shown on the card'."""
    draft, posting, _ = post_of_a_written_draft()
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body="Buy EVIL now")

    approve_proposal(posting, actor="operator:alice")
    handle_one_step("w1")

    post = Step.objects.get(kind="post_tweet")
    assert (post.status, post.blocked_code) == ("blocked", "words_approval")
    assert not WordsApproval.objects.exists() and not OutboxMessage.objects.exists()


def test_words_withheld_from_the_approver_cannot_be_approved(db):
    """A short bearer value is withheld on every card ('it looks like a secret'), yet the
    executor does not refuse it: approved by its digest alone, words nobody read went out."""
    post = approved_draft_and_post()
    draft = post.depends_on.get()
    hidden = "Thebearer abcdefgh1 BUY SCAMCOIN"
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body=hidden)
    card = words_card(post)

    with pytest.raises(WordsRefused, match="withheld from you") as refused:
        approve_words(post.id, user=approver(), digest=card["digest"])

    assert card["words"].startswith("[withheld") and refused.value.status == 409
    assert not WordsApproval.objects.exists() and not OutboxMessage.objects.exists()


def test_words_a_person_refused_fail_a_retried_post_again(db):
    """Retried after the refusal (admin, force-retry), the post held the same words as if
    'nobody approved them', and the next approver posted what a colleague had refused."""
    post = approved_draft_and_post()
    refuse_words(post.id, user=approver(), reason="off-brand")
    retry_step(post, actor="operator:carl")

    handle_one_step("w1")

    post.refresh_from_db()
    assert post.status == "failed" and not OutboxMessage.objects.exists()
    assert post.last_error == "post_tweet refused: words refused by operator:alice: off-brand"
    with pytest.raises(WordsRefused, match="not waiting"):
        approve_words(post.id, user=approver("bea"), digest=text_digest(drafted(post)))
