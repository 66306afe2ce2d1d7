"""What reaches a human: alerts at once, a digest only when there is something, delivered once
by e-mail and webhook through the outbox however often delivery is retried."""

import json
from datetime import timedelta

import httpx
import pytest
from django.core import mail

from console.bootstrap import bootstrap
from missions.models import OutboxMessage
from missions.outbox import deliver_pending
from opportunities.actions import create_idea, propose_opportunity
from opportunities.models import Idea, Notice
from opportunities.notices import send_webhook
from opscore.actions import record_event, set_policy
from opscore.db import db_now
from opscore.lanes import pause_of
from opscore.llm import OFFLINE_NOTE
from opscore.models import Event, StandingOrder
from tests.factories import run_order_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def lane(db, settings):
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]
    settings.OPS_WEBHOOK_URL = "https://hooks.example.com/T000/B000"
    bootstrap(1, actor="test")
    bootstrap(3, actor="test", force=True)
    return StandingOrder.objects.get(name="publisher-opportunity-digest")


def opportunity(**extra):
    event = record_event("step.failed", "exports stall", agent_id="devops")
    data = {
        "source_agent": "devops",
        "theme": "reliability",
        "title": "Exports stall at 02:00",
        "why_now": "Three nights in a row.",
        "evidence": [{"type": "event", "id": event.id}],
        "impact": 3,
        "confidence": 3,
        "urgency": 2,
        "reversibility": "high",
        "owner_candidate": "devops",
        "suggested_next_step": "Move the export to 03:30.",
    }
    return propose_opportunity(data | extra).opportunity


def test_an_empty_digest_is_no_work_never_an_empty_message(lane):
    run = run_order_now(lane)

    assert (run.status, run.summary) == (
        "no_work",
        "nothing new in the proactive lane: no digest sent",
    )
    assert not Notice.objects.exists() and not OutboxMessage.objects.exists()


def test_a_digest_is_delivered_once_by_email_and_webhook_even_when_retried(lane, monkeypatch):
    opportunity()
    sent = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    monkeypatch.setattr(
        "opportunities.notices.send_webhook.__defaults__", (httpx.Client(transport=transport),)
    )

    first = run_order_now(lane)
    again = run_order_now(lane)  # the same day's digest, retried: the same notice, nothing new
    deliver_pending()
    deliver_pending()

    assert first.status == again.status == "completed"
    assert Notice.objects.count() == 1 and OutboxMessage.objects.count() == 2
    assert len(mail.outbox) == 1 and "Exports stall at 02:00" in mail.outbox[0].body
    assert mail.outbox[0].to == ["ops@example.com"]
    assert len(sent) == 1 and sent[0].headers["Idempotency-Key"].startswith("notice:")


def test_a_failing_webhook_is_retried_with_the_error_kept_and_email_still_goes(lane, monkeypatch):
    opportunity()
    run_order_now(lane)
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    monkeypatch.setattr(
        "opportunities.notices.send_webhook.__defaults__", (httpx.Client(transport=transport),)
    )

    deliver_pending()

    hook = OutboxMessage.objects.get(channel="webhook")
    assert hook.status == "pending" and "503" in hook.last_error
    assert OutboxMessage.objects.get(channel="email").status == "delivered"


@pytest.mark.parametrize("status", [404, 503])
def test_a_failing_webhook_keeps_no_trace_of_its_url(lane, monkeypatch, settings, status):
    """The webhook's URL is its key (opscore.redaction): httpx names the URL in the error
    raise_for_status() raises, which the outbox row and its alert keep."""
    opportunity()
    run_order_now(lane)
    transport = httpx.MockTransport(lambda request: httpx.Response(status))
    monkeypatch.setattr(
        "opportunities.notices.send_webhook.__defaults__", (httpx.Client(transport=transport),)
    )

    for _ in range(8):  # until it gives up, with its alert
        OutboxMessage.objects.update(next_attempt_at=db_now())
        deliver_pending()

    hook = OutboxMessage.objects.get(channel="webhook")
    assert str(status) in hook.last_error
    assert settings.OPS_WEBHOOK_URL not in hook.last_error
    alert = Event.objects.get(kind="outbox.failed")
    assert settings.OPS_WEBHOOK_URL not in f"{alert.title} {alert.summary} {alert.payload}"


def test_the_webhook_speaks_slack_json_against_a_fake_transport(lane):
    opportunity()
    run_order_now(lane)
    seen = []

    def answer(request):
        seen.append(request)
        return httpx.Response(200)

    message = OutboxMessage.objects.get(channel="webhook")
    send_webhook(message, client=httpx.Client(transport=httpx.MockTransport(answer)))

    body = seen[0].read().decode()
    assert seen[0].url == "https://hooks.example.com/T000/B000" and '"text"' in body
    assert "Ideas digest" in body


def test_a_clear_urgent_opportunity_is_an_alert_at_once(lane):
    opportunity(impact=4, confidence=4, urgency=4, title="Disk fills in 2 hours")

    alert = Notice.objects.get(lane="alert")
    assert alert.title == "Opportunity: Disk fills in 2 hours"
    assert OutboxMessage.objects.filter(key__startswith=f"notice:{alert.id}:").count() == 2


def test_the_weekly_memo_lists_the_top_bets_by_theme(lane):
    set_policy("opportunity_policy", {"max_new_per_scout_per_day": 10}, actor="test")
    for n in range(7):
        opportunity(title=f"Bet {n}", impact=1 + n % 5, dedupe_key=f"b{n}", source_agent="devops")
    memo_order = StandingOrder.objects.get(name="publisher-weekly-bets-memo")

    run = run_order_now(memo_order)

    memo = Notice.objects.get(lane="memo")
    body = memo.body.removeprefix(OFFLINE_NOTE + "\n")  # the suite runs offline
    assert run.status == "completed" and body.startswith("reliability:")
    assert body.count("\n- O") == 5 and "Bet 4 (impact 5" in body.split("\n")[1]


def test_the_stage_inbox_shows_and_dismisses(lane, admin_client):
    opportunity(impact=4, confidence=4, urgency=4)
    notice = Notice.objects.get()

    shown = admin_client.get("/stage/inbox").content.decode()
    after = admin_client.post(f"/stage/inbox/{notice.id}/dismiss", {"reason": "known"})

    notice.refresh_from_db()
    assert "Opportunity: Exports stall" in shown
    assert notice.dismissed_by == "operator:operator" and notice.dismiss_reason == "known"
    assert "Nothing for you" in after.content.decode()
    assert db_now() - notice.dismissed_at < timedelta(minutes=1)


def test_the_daily_digest_carries_an_accountability_line_per_agent(lane):
    digest = StandingOrder.objects.get(name="publisher-daily-digest")
    run_order_now(StandingOrder.objects.get(name="audit-lease-reaper"))

    run = run_order_now(digest)

    notice = Notice.objects.get(pk=run.evidence["accountability_notice"])
    auditor = next(line for line in notice.body.split("\n") if line.startswith("- auditor:"))
    assert "runs completed 0, no_work 1" in auditor and "spend $0.0000" in auditor


def test_dead_and_long_blocked_work_raise_one_alert_a_day_each(lane):
    from missions.models import Step
    from tests.factories import make_step, run_order_now

    health = StandingOrder.objects.get(name="devops-health-check")
    quiet = run_order_now(health)
    make_step("noop", status="dead", finished_at=db_now(), last_error="disk full")
    stuck = make_step("noop", status="blocked", blocked_reason="waiting for a human")
    Step.objects.filter(pk=stuck.pk).update(updated_at=db_now() - timedelta(hours=2))

    first = run_order_now(health)
    again = run_order_now(health)

    assert quiet.evidence["alerts"] == []
    titles = set(Notice.objects.filter(lane="alert").values_list("title", flat=True))
    assert titles == {"Work died", "Work is stuck"}
    assert first.evidence["alerts"] == again.evidence["alerts"]  # the same two, not four


def test_an_offline_digest_says_it_is_offline_and_an_online_one_does_not(lane, settings):
    settings.OPSCORE_LLM = "offline"
    opportunity()
    run_order_now(lane)

    notice = Notice.objects.get(lane="digest")
    assert notice.title.startswith("[offline] Ideas digest")
    assert notice.body.startswith(OFFLINE_NOTE)
    notice.delete()
    OutboxMessage.objects.all().delete()
    settings.OPSCORE_LLM = "anthropic"
    run_order_now(lane)
    assert Notice.objects.get(lane="digest").title.startswith("Ideas digest")


def test_a_webhook_trickling_its_answer_is_cut_off_at_the_webhook_timeout(
    lane, monkeypatch, settings
):
    """Each read arriving in time is not enough: the call is over within WEBHOOK_TIMEOUT in
    all, so one slow receiver cannot hold the outbox's deliverer."""
    from tests.trickler import Trickler

    far = Trickler()
    monkeypatch.setattr("opportunities.notices.WEBHOOK_TIMEOUT", 1)
    settings.OPS_WEBHOOK_URL = far.url  # through the settings fixture: restored after the test
    opportunity()
    run_order_now(lane)

    with pytest.raises(httpx.TimeoutException):
        send_webhook(OutboxMessage.objects.get(channel="webhook"))
    far.close()

    assert far.cut_off


@pytest.mark.parametrize(
    "url",
    [
        "https://Hooks.Example.com/services/T000/B000/XXXXsecretXXXX",  # httpx lowercases a host
        "https://hooks.example.com:443/services/T000/B000/XXXXsecretXXXX",  # and drops the port
        "https://hooks.example.com/services/T000/B000/XXXX secretXXXX",  # and quotes a space
    ],
)
def test_a_failing_webhook_keeps_no_trace_of_its_url_however_httpx_spells_it(
    lane, monkeypatch, settings, url
):
    """httpx names the URL as it normalised it, not as the setting spells it, so masking the
    setting's value alone let its key through; the error names the status, never the URL."""
    settings.OPS_WEBHOOK_URL = url
    opportunity()
    run_order_now(lane)
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    monkeypatch.setattr(
        "opportunities.notices.send_webhook.__defaults__", (httpx.Client(transport=transport),)
    )

    for _ in range(8):
        OutboxMessage.objects.update(next_attempt_at=db_now())
        deliver_pending()

    hook = OutboxMessage.objects.get(channel="webhook")
    alert = Event.objects.get(kind="outbox.failed")
    assert "404" in hook.last_error
    assert "secret" not in f"{hook.last_error} {alert.title} {alert.summary} {alert.payload}"


def test_a_busy_days_digest_counts_every_item_and_says_how_many_it_did_not_list(lane):
    set_policy("opportunity_policy", {"max_new_per_scout_per_day": 30}, actor="test")
    for n in range(23):
        opportunity(title=f"Bet {n}", dedupe_key=f"b{n}")
    for n in range(12):
        Idea.objects.create(source_agent_id="devops", theme="t", title=f"Idea {n}", body="b")

    run_order_now(lane)

    digest = Notice.objects.get(lane="digest")
    assert "23 new" in digest.title
    assert digest.body.count("\n- O") == 20 and "- … and 3 more new opportunities" in digest.body
    assert digest.body.count("\n- I") == 10 and "- … and 2 more ideas" in digest.body


def test_no_alert_goes_out_while_the_proactive_lane_is_paused_and_the_hold_is_on_file(lane):
    """An outside runtime's clear, urgent find arrives through the agent bus while the lane is
    paused: no message reaches a human now; an event says why, and the opportunity waits on
    the board for the digest after the pause."""
    from opscore.overrides import apply_override

    apply_override("pause-lane", "proactive", reason="quiet day", actor="operator:ana")

    found = opportunity(impact=4, confidence=4, urgency=4, title="Disk fills in 2 hours")

    assert not Notice.objects.exists() and not OutboxMessage.objects.exists()
    held = Event.objects.get(kind="opportunity.alert_held")
    assert held.payload["opportunity_id"] == found.id
    assert "lane proactive paused (queue)" in held.summary and "quiet day" in held.summary


def test_an_alert_and_a_digest_say_when_an_opportunitys_words_are_not_opscores(lane):
    """An outside runtime's words reach a human in Opscore's voice only marked as theirs."""
    why = "written by devops's runtime through the agent bus"
    event = record_event("step.failed", "exports stall", agent_id="devops")
    data = {"source_agent": "devops", "theme": "t", "title": "Rotate every key now"}
    data |= {"why_now": "now", "evidence": [{"type": "event", "id": event.id}]}
    data |= {"impact": 4, "confidence": 4, "urgency": 4, "reversibility": "high"}
    data |= {"owner_candidate": "devops", "suggested_next_step": "paste them at evil.example"}

    found = propose_opportunity(data, untrusted=why).opportunity
    idea = create_idea(
        {"source_agent": "devops", "theme": "t", "title": "Keys leak", "body": "b"}, untrusted=why
    )
    run_order_now(lane)

    alert, digest = Notice.objects.get(lane="alert"), Notice.objects.get(lane="digest")
    assert alert.body.startswith(f"Untrusted: {why}.")
    assert f"O{found.id} Rotate every key now (untrusted: {why};" in digest.body
    assert f"I{idea.id} Keys leak (devops; untrusted: {why})" in digest.body


def test_a_digest_too_long_for_the_chat_webhook_says_it_was_cut(lane):
    set_policy("opportunity_policy", {"max_new_per_scout_per_day": 30}, actor="test")
    for n in range(20):
        opportunity(title=f"Bet {n} " + "w" * 150, dedupe_key=f"b{n}")
    run_order_now(lane)
    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200))

    send_webhook(OutboxMessage.objects.get(channel="webhook"), httpx.Client(transport=transport))

    text = json.loads(seen[0].read())["text"]
    assert len(text) <= 3000 and "- O" in text
    assert text.endswith("… (cut here: the whole message is in the Stage's inbox)")


def test_an_alert_whose_title_spans_lines_is_still_e_mailed_on_one_subject_line(lane):
    """A runtime's or a model's title may hold a line break; an e-mail subject may not, and
    the alert failed on every retry, never reaching the human."""
    opportunity(impact=4, confidence=4, urgency=4, title="Disk fills\r\nBcc: someone@evil.example")

    deliver_pending()

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == (
        "[Opscore] Alert: Opportunity: Disk fills Bcc: someone@evil.example"
    )
    assert mail.outbox[0].bcc == [] and mail.outbox[0].to == ["ops@example.com"]


def test_an_idea_promoted_to_a_clear_urgent_opportunity_is_an_alert_at_once(lane):
    from opportunities.actions import promote_idea

    idea = create_idea({"source_agent": "devops", "theme": "t", "title": "Disk", "body": "b"})
    more = {"impact": 4, "confidence": 4, "urgency": 4, "reversibility": "high"}
    more |= {"why_now": "fills by noon", "owner_candidate": "devops", "suggested_next_step": "s"}
    more["evidence"] = [{"type": "event", "id": record_event("step.failed", "disk full").id}]

    found = promote_idea(idea, more, promoted_by="operator:ana")

    alert = Notice.objects.get(lane="alert")
    assert alert.title == "Opportunity: Disk" and alert.dedupe_key.endswith(f":{found.id}")


def test_an_outside_title_cannot_ping_the_chat_or_hide_a_link_in_it(lane):
    """A chat webhook reads `<!channel>`, `<url|words>` and `@here` as commands: a runtime's
    title with them notified the whole room and showed its link as Opscore's own words. Its
    text reaches the chat as text, as Slack's formatting rules ask (&, < and > escaped)."""
    title = "<!channel> @here Rotate keys at <https://evil.example|our status page> & co"
    opportunity(impact=4, confidence=4, urgency=4, title=title)
    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200))

    send_webhook(OutboxMessage.objects.get(channel="webhook"), httpx.Client(transport=transport))

    text = json.loads(seen[0].read())["text"]
    assert "<" not in text and ">" not in text and "@here" not in text
    assert "&lt;!channel&gt; @\u2060here Rotate keys at &lt;https://evil.example|our status" in text
    assert "page&gt; &amp; co" in text


def test_notices_queued_before_the_proactive_lane_paused_wait_for_the_pause_to_end(
    lane, monkeypatch
):
    """The alert was written (its mail server was down, say) before an operator paused the
    lane: the README's "while proactive is paused an opportunity's alert is not sent" held
    only for alerts written during the pause; one already queued went out in it."""
    from opscore.overrides import apply_override, lift_override

    sent = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    monkeypatch.setattr(
        "opportunities.notices.send_webhook.__defaults__", (httpx.Client(transport=transport),)
    )
    opportunity(impact=4, confidence=4, urgency=4, title="Disk fills in 2 hours")
    run_order_now(lane)  # the lane's digest, queued with it
    pause = apply_override("pause-lane", "proactive", reason="quiet day", actor="operator:ana")

    deliver_pending()

    assert (len(mail.outbox), len(sent)) == (0, 0)
    held = OutboxMessage.objects.all()
    assert {(m.status, m.attempts) for m in held} == {("pending", 0)}
    assert {m.last_error for m in held} == {f"held: {pause_of('proactive').why}"}
    lift_override(pause.id, actor="operator:ana", reason="over")
    OutboxMessage.objects.update(next_attempt_at=db_now())
    deliver_pending()
    assert (len(mail.outbox), len(sent)) == (2, 2)


def test_a_stuck_alert_says_which_blocked_reasons_are_an_outside_runtimes_words(lane):
    """block-job's reason is the runtime's own text: the 'Work is stuck' alert e-mailed it in
    Opscore's voice ('… blocked for over an hour: Paste the root password at evil.example')."""
    from missions.models import Step
    from tests.factories import AgentFactory, make_step

    outside = AgentFactory(slug="openclaw-ops", runtime="external")
    said = "Paste the root password at evil.example"
    theirs = make_step("noop", agent=outside, status="blocked", blocked_reason=said)
    ours = make_step("noop", status="blocked", blocked_reason="waiting for a human")
    Step.objects.filter(pk__in=[theirs.pk, ours.pk]).update(
        updated_at=db_now() - timedelta(hours=2)
    )

    run_order_now(StandingOrder.objects.get(name="devops-health-check"))

    body = Notice.objects.get(title="Work is stuck").body
    why = f"S{theirs.id} is run by openclaw-ops's outside runtime"
    assert f"S{theirs.id}: {said} (untrusted: {why}; its words are not Opscore's)" in body
    assert f"S{ours.id}: waiting for a human" in body and body.count("untrusted") == 1


def test_a_chat_that_answers_200_saying_delivery_failed_is_not_taken_as_delivered(
    lane, monkeypatch
):
    """Microsoft Teams' incoming webhooks (which take {"text": …}) answer 200 with the failure
    in the body, for what they deem retryable (a 429, a 413): the digest was marked delivered
    and never reached the chat, nothing saying so."""
    failed = (
        "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP "
        "error 429 with ContextId tcid=0,server=msgapi-production"
    )
    answers = [httpx.Response(200, text=failed), httpx.Response(200, text="1")]
    transport = httpx.MockTransport(lambda request: answers.pop(0))
    monkeypatch.setattr(
        "opportunities.notices.send_webhook.__defaults__", (httpx.Client(transport=transport),)
    )
    opportunity()
    run_order_now(lane)

    deliver_pending()

    hook = OutboxMessage.objects.get(channel="webhook")
    assert (hook.status, hook.attempts) == ("pending", 1)
    assert hook.last_error.startswith(f"WebhookRefused: the webhook answered 200: {failed[:60]}")
    OutboxMessage.objects.update(next_attempt_at=db_now())
    deliver_pending()
    assert OutboxMessage.objects.get(channel="webhook").status == "delivered"


def test_a_notice_whose_channel_was_unset_since_it_was_queued_fails_saying_so(lane, settings):
    """OPS_NOTIFY_EMAIL emptied (or OPS_WEBHOOK_URL unset) after an alert was queued: Django
    sends a message with no recipient to nobody and says nothing, so the row read 'delivered'
    for an alert no one got; the webhook's retried a URL-less post five times."""
    opportunity(impact=4, confidence=4, urgency=4, title="Disk fills in 2 hours")
    settings.OPS_NOTIFY_EMAIL, settings.OPS_WEBHOOK_URL = [], ""

    deliver_pending()

    email, webhook = (OutboxMessage.objects.get(channel=c) for c in ("email", "webhook"))
    assert (email.status, email.attempts, len(mail.outbox)) == ("failed", 1, 0)
    assert email.last_error == "OPS_NOTIFY_EMAIL names no recipient any more: nothing was sent"
    assert (webhook.status, webhook.attempts) == ("failed", 1)
    assert webhook.last_error == "OPS_WEBHOOK_URL is not set any more: nothing was sent"
    assert Event.objects.filter(kind="outbox.failed").count() == 2


def test_a_credential_in_an_opportunitys_words_reaches_no_inbox_mail_or_chat(
    lane, settings, monkeypatch
):
    """A scout or an outside runtime read a log holding Opscore's own X token and quoted it:
    the alert carried it to the Stage's inbox, the e-mail and the chat word for word."""
    settings.OPS_X_ACCESS_TOKEN = "xtok-0123456789abcdef"
    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200))
    monkeypatch.setattr(
        "opportunities.notices.send_webhook.__defaults__", (httpx.Client(transport=transport),)
    )
    said = "xtok-0123456789abcdef is in the log, with Bearer abcdefghijklmnop12345"
    opportunity(impact=4, confidence=4, urgency=4, title="Token leaked", why_now=said)

    deliver_pending()

    notice = Notice.objects.get()
    shown = [notice.body, mail.outbox[0].body, seen[0].read().decode()]
    assert all("xtok-0123456789abcdef" not in s and "abcdefghijklmnop12345" not in s for s in shown)
    assert "[redacted] is in the log, with Bearer [redacted]" in notice.body
