"""A reason a person types when refusing — a proposal's rejection, held words' refusal, a
notice's dismissal — is kept without the characters that hide or reorder text, from every
surface (API, admin, CLI, Stage), as an override's or a mission's reason is; where a reason is
required, one of nothing but such characters is refused."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command

from missions.models import Proposal, Step, WordsApproval
from opportunities.models import Notice
from opportunities.notices import dismiss, notify
from opscore.models import Event
from tests.factories import AgentFactory, held_post, propose

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
HIDDEN = "ok\u202eevil\u200b \u2066quiet\u2069\ufe0f"  # bidi override, zero width, isolates
CLEAN = "okevil quiet"
NOTHING = "\u200b\u202e\u2066\u2069"


@pytest.fixture
def api(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    def call(path, body):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return client.post(path, body, content_type="application/json", headers=headers)

    return call


def approver(name="alice"):
    user = User.objects.create_user(name, password="x")
    user.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    return user


def pending():
    return propose(AgentFactory(slug="publisher"), "deploy", title="Ship it")


def cli(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def assert_rejected_clean(proposal):
    proposal.refresh_from_db()
    assert (proposal.status, proposal.reason) == ("rejected", CLEAN)
    assert Event.objects.get(kind="proposal.rejected").summary == CLEAN


def test_the_api_rejects_with_the_reason_kept_without_hidden_characters(api):
    proposal, _ = pending(), approver()

    answer = api(f"/api/ops/proposals/{proposal.id}/reject", {"as": "alice", "reason": HIDDEN})

    assert answer.status_code == 200 and answer.json()["reason"] == CLEAN
    assert_rejected_clean(proposal)


def test_the_api_refuses_a_rejection_reason_of_nothing_but_hidden_characters(api):
    proposal, _ = pending(), approver()

    answer = api(f"/api/ops/proposals/{proposal.id}/reject", {"as": "alice", "reason": NOTHING})

    assert answer.status_code == 400 and "needs a reason" in answer.json()["error"]
    assert Proposal.objects.get(pk=proposal.pk).status == "pending"


def test_the_admin_action_rejects_with_the_reason_kept_without_hidden_characters(admin_client):
    proposal = pending()
    form = {"action": "reject_proposals", "_selected_action": [proposal.id], "apply": "1"}

    admin_client.post("/admin/missions/proposal/", form | {"reason": HIDDEN}, follow=True)

    assert_rejected_clean(proposal)


def test_the_cli_rejects_with_the_reason_kept_and_refuses_one_of_nothing(db):
    proposal, _ = pending(), approver()
    reject = ("proposal", "reject", str(proposal.id), "--as", "alice", "--reason")

    with pytest.raises(CommandError, match="needs a reason"):
        cli(*reject, NOTHING)
    assert Proposal.objects.get(pk=proposal.pk).status == "pending"
    cli(*reject, HIDDEN)

    assert_rejected_clean(proposal)


def test_the_stage_card_rejects_with_the_reason_kept_and_refuses_one_of_nothing(admin_client):
    proposal = pending()
    url = f"/stage/approvals/{proposal.id}"

    nothing = admin_client.post(url, {"decision": "reject", "reason": NOTHING}).content.decode()
    assert "Not decided: a rejection needs a reason" in nothing
    assert Proposal.objects.get(pk=proposal.pk).status == "pending"
    admin_client.post(url, {"decision": "reject", "reason": HIDDEN})

    assert_rejected_clean(proposal)


def assert_words_refused_clean(post):
    assert WordsApproval.objects.get(step=post).reason == CLEAN
    assert Event.objects.get(kind="step.words_refused").summary == CLEAN
    post.refresh_from_db()
    assert post.status == "failed" and post.last_error.endswith(f": {CLEAN}")


def test_the_cli_refuses_words_with_the_reason_kept_and_refuses_one_of_nothing(db):
    post, _ = held_post(), approver()
    refuse = ("words", "refuse", str(post.id), "--as", "alice", "--reason")

    with pytest.raises(CommandError, match="needs a reason"):
        cli(*refuse, NOTHING)
    assert Step.objects.get(pk=post.pk).status == "blocked"
    cli(*refuse, HIDDEN)

    assert_words_refused_clean(post)


def test_the_api_refuses_words_with_the_reason_kept_and_refuses_one_of_nothing(api):
    post, _ = held_post(), approver()
    url = f"/api/ops/steps/{post.id}/refuse-words"

    nothing = api(url, {"as": "alice", "reason": NOTHING})
    refused = api(url, {"as": "alice", "reason": HIDDEN})

    assert nothing.status_code == 400 and "needs a reason" in nothing.json()["error"]
    assert refused.status_code == 200 and refused.json()["decision"] == "refused"
    assert_words_refused_clean(post)


def test_the_stage_card_refuses_words_with_the_reason_kept_without_hidden_characters(client):
    post = held_post()
    client.force_login(approver())

    client.post(f"/stage/approvals/words/{post.id}", {"decision": "reject", "reason": HIDDEN})

    assert_words_refused_clean(post)


def test_a_dismiss_reason_is_kept_without_hidden_characters(admin_client):
    notice = notify("alert", "Disk fills", "in 2 hours", dedupe_key="disk")

    admin_client.post(f"/stage/inbox/{notice.id}/dismiss", {"reason": HIDDEN})

    assert Notice.objects.get(pk=notice.pk).dismiss_reason == CLEAN


def test_a_dismiss_reason_of_nothing_but_hidden_characters_dismisses_without_one(db):
    """A dismissal's reason is optional: nothing visible typed is no reason, not hidden ones."""
    notice = notify("alert", "Disk fills", "in 2 hours", dedupe_key="disk")

    dismiss(notice, actor="operator:test", reason=NOTHING)

    notice.refresh_from_db()
    assert notice.dismissed_at is not None and notice.dismiss_reason == ""


def test_a_dismiss_reason_is_measured_without_its_hidden_characters(db):
    notice = notify("alert", "Disk fills", "in 2 hours", dedupe_key="disk")

    dismiss(notice, actor="operator:test", reason="r" * 300 + NOTHING)

    assert Notice.objects.get(pk=notice.pk).dismiss_reason == "r" * 300


def test_a_stage_rejection_reason_is_measured_without_its_hidden_characters(admin_client):
    proposal = pending()
    card = {"decision": "reject", "reason": "r" * 2000 + NOTHING}

    admin_client.post(f"/stage/approvals/{proposal.id}", card)

    assert Proposal.objects.get(pk=proposal.pk).reason == "r" * 2000
