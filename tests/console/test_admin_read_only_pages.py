"""A change page whose every field is read-only (a proposal, a mission, a step, a coding run,
an override…) saves nothing. Django still offered Save there, and a Save wrote the whole row
back as the request had read it a moment before: a decision, a worker's move or a lift that
landed in between was undone (a proposal approved, its mission started, read `pending` again
and approvable a second time). The buttons are gone, and a POST (a stale tab, a script) saves
nothing and says so."""

import threading

import psycopg
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client

from console.models import AgentToken
from opscore.overrides import apply_override
from tests.factories import AgentFactory, make_step, propose
from tests.processes import database_url, sessions_waiting_on_a_lock, wait_for


def saving_in_a_thread(client, url: str, answers: list) -> threading.Thread:
    def save():
        try:
            answers.append(client.post(url, {"_save": "Save"}))
        finally:
            connection.close()

    thread = threading.Thread(target=save)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_saving_a_proposals_page_never_undoes_a_decision_that_landed_meanwhile():
    proposal = propose(AgentFactory(slug="devops"), "deploy", title="Ship it")
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-123456789"))
    answers = []
    with psycopg.connect(database_url()) as decision:  # an approval, its row held until commit
        decision.execute(
            "UPDATE missions_proposal SET status = 'accepted', decided_by = 'operator:erin'"
            " WHERE id = %s",
            [proposal.id],
        )
        page = f"/admin/missions/proposal/{proposal.id}/change/"
        save = saving_in_a_thread(client, page, answers)
        try:  # the old code read the row (pending) and waits to write it back
            wait_for(lambda: not save.is_alive() or sessions_waiting_on_a_lock("missions_proposal"))
        finally:
            decision.commit()
        save.join(timeout=30)

    proposal.refresh_from_db()
    assert not save.is_alive() and answers[0].status_code == 302
    assert (proposal.status, proposal.decided_by) == ("accepted", "operator:erin")


@pytest.mark.django_db
def test_a_read_only_page_offers_no_save_and_a_post_to_it_writes_nothing(admin_client, agent):
    step = make_step("analyze", agent=agent)
    lift = apply_override("pause-lane", "reactions", reason="storm", actor="operator:test")
    token, _ = AgentToken.issue(agent, "vps", actor="operator:test")
    pages = [
        f"/admin/missions/proposal/{step.mission.proposal_id}/change/",
        f"/admin/missions/mission/{step.mission_id}/change/",
        f"/admin/missions/step/{step.id}/change/",
        f"/admin/opscore/override/{lift.id}/change/",
        f"/admin/console/agenttoken/{token.id}/change/",  # a Save un-revoked one revoked meanwhile
    ]

    shown = [admin_client.get(page).content.decode() for page in pages]
    answers = [admin_client.post(page, {"_save": "Save"}) for page in pages]

    assert not [page for page, html in zip(pages, shown, strict=True) if 'name="_save"' in html]
    assert [answer.status_code for answer in answers] == [302] * len(pages)
    said = [str(m) for m in get_messages(answers[-1].wsgi_request)]
    assert any("Nothing was saved" in message for message in said)
    assert not LogEntry.objects.exists()  # no "Changed …" in anyone's recent actions


@pytest.mark.django_db
def test_a_viewer_posting_to_a_read_only_page_is_refused(client, agent):
    step = make_step("analyze", agent=agent)
    viewer = User.objects.create_user("viv", password="pw-123456789", is_staff=True)
    client.force_login(viewer)

    answer = client.post(f"/admin/missions/step/{step.id}/change/", {"_save": "Save"})

    assert answer.status_code == 403
