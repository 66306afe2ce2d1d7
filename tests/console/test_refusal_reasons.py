"""A reason a person types when refusing — a proposal's rejection, held words' refusal, a
notice's dismissal — is kept without the characters that hide or reorder text, from every
surface (API, admin, CLI, Stage), as an override's or a mission's reason is; where a reason is
required, one of nothing but such characters is refused. A rejection's or a refusal's reason
is at most 500 characters as kept (opscore.text.MAX_REASON, as every reason): a longer one is
refused naming the field and the limit, and nothing is decided (the column is unlimited text:
a reason of megabytes was stored, then rendered on the Stage and in the admin)."""

import re
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
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


def assert_words_refused_clean(post):
    assert WordsApproval.objects.get(step=post).reason == CLEAN
    assert Event.objects.get(kind="step.words_refused").summary == CLEAN
    post.refresh_from_db()
    assert post.status == "failed" and post.last_error.endswith(f": {CLEAN}")


ROUTES = {  # the API, the CLI's verb, the admin page and the Stage card that decide each
    "rejection": (
        "/api/ops/proposals/{}/reject",
        "proposal reject",
        "/admin/missions/proposal/{}/decide/",
        "/stage/approvals/{}",
    ),
    "words refusal": (
        "/api/ops/steps/{}/refuse-words",
        "words refuse",
        "/admin/missions/step/{}/words/",
        "/stage/approvals/words/{}",
    ),
}


class Refusal:
    """A proposal to reject or a post's words to refuse, and where each surface decides it."""

    def __init__(self, kind: str):
        self.rejects = kind == "rejection"
        self.row = pending() if self.rejects else held_post()
        api, verb, admin, stage = ROUTES[kind]
        self.api, self.admin, self.stage = (p.format(self.row.id) for p in (api, admin, stage))
        self.cli = (*verb.split(), str(self.row.id))

    def decided(self) -> bool:
        if self.rejects:
            return Proposal.objects.get(pk=self.row.pk).status != "pending"
        return Step.objects.get(pk=self.row.pk).status != "blocked"

    def kept(self) -> str:
        if self.rejects:
            return Proposal.objects.get(pk=self.row.pk).reason
        return WordsApproval.objects.get(step=self.row).reason

    def assert_clean(self) -> None:
        (assert_rejected_clean if self.rejects else assert_words_refused_clean)(self.row)


@pytest.fixture(params=ROUTES)
def refusal(request, db):
    approver()  # alice, who may decide either
    return Refusal(request.param)


TOO_LONG = {"reason": "r" * 501}
PAST_500 = "a reason is at most 500 characters (501 given)"


def test_the_api_keeps_the_reason_without_hidden_characters(api, refusal):
    answer = api(refusal.api, {"as": "alice", "reason": HIDDEN})

    assert answer.status_code == 200
    refusal.assert_clean()


def test_the_api_refuses_a_reason_of_hidden_characters_before_the_decision(api, refusal):
    answer = api(refusal.api, {"as": "alice", "reason": NOTHING})

    assert answer.status_code == 400 and answer.json()["errors"] == {"reason": ["required"]}
    assert not refusal.decided()
    assert not Event.objects.filter(tags__contains=["refused"]).exists()  # none was attempted


def test_the_cli_keeps_the_reason_without_hidden_characters_and_refuses_one_of_nothing(refusal):
    decide = (*refusal.cli, "--as", "alice", "--reason")

    with pytest.raises(CommandError, match="needs a reason"):
        cli(*decide, NOTHING)
    assert not refusal.decided()
    cli(*decide, HIDDEN)

    refusal.assert_clean()


def test_the_stage_card_keeps_the_reason_without_hidden_characters_and_refuses_one_of_nothing(
    admin_client, refusal
):
    nothing = admin_client.post(refusal.stage, {"decision": "reject", "reason": NOTHING})
    assert "needs a reason" in nothing.content.decode() and not refusal.decided()
    admin_client.post(refusal.stage, {"decision": "reject", "reason": HIDDEN})

    refusal.assert_clean()


def test_the_admin_action_rejects_with_the_reason_kept_without_hidden_characters(admin_client):
    proposal = pending()
    form = {"action": "reject_proposals", "_selected_action": [proposal.id], "apply": "1"}

    admin_client.post("/admin/missions/proposal/", form | {"reason": HIDDEN}, follow=True)

    assert_rejected_clean(proposal)


def test_the_api_refuses_a_reason_past_500_characters_and_decides_nothing(api, refusal):
    answer = api(refusal.api, {"as": "alice"} | TOO_LONG)

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"reason": ["at most 500 characters"]}
    assert not refusal.decided()


def test_the_cli_refuses_a_reason_past_500_characters_and_decides_nothing(refusal):
    with pytest.raises(CommandError, match=rf"^{re.escape(PAST_500)}$"):
        cli(*refusal.cli, "--as", "alice", "--reason", TOO_LONG["reason"])

    assert not refusal.decided()


def test_the_admin_page_refuses_a_reason_past_500_characters(admin_client, refusal):
    answer = admin_client.post(refusal.admin, {"decision": "reject"} | TOO_LONG, follow=True)

    assert [str(m) for m in get_messages(answer.wsgi_request)] == [f"Not decided: {PAST_500}"]
    assert not refusal.decided()


def test_the_stage_card_refuses_a_reason_past_500_characters(admin_client, refusal):
    answer = admin_client.post(refusal.stage, {"decision": "reject"} | TOO_LONG)

    assert f"Not decided: {PAST_500}" in answer.content.decode()
    assert not refusal.decided()


def test_a_reason_is_measured_without_its_hidden_characters(admin_client, refusal):
    admin_client.post(refusal.stage, {"decision": "reject", "reason": "r" * 500 + NOTHING})

    assert refusal.kept() == "r" * 500


def test_the_inputs_asking_a_reason_say_the_limit(admin_client):
    proposal, post = pending(), held_post()
    notify("alert", "Disk fills", "in 2 hours", dedupe_key="disk")

    pages = [
        admin_client.get("/stage/approvals").content.decode(),
        admin_client.get("/stage/inbox").content.decode(),
        admin_client.get(f"/admin/missions/proposal/{proposal.id}/change/").content.decode(),
        admin_client.get(f"/admin/missions/step/{post.id}/change/").content.decode(),
    ]

    for page in pages:
        assert 'name="reason" maxlength="500"' in page
        assert 'maxlength="2000"' not in page and 'maxlength="300"' not in page


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

    dismiss(notice, actor="operator:test", reason="r" * 500 + NOTHING)

    assert Notice.objects.get(pk=notice.pk).dismiss_reason == "r" * 500
