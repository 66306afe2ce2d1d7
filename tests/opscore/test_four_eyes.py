"""Four eyes: a permission per decision kind, held through groups; the author of a proposal
may not approve it, not even as a superuser; the Stage and the admin say who may decide."""

import pytest
from django.contrib.auth.models import Group, Permission, User

from missions.models import Proposal
from opscore.models import Event
from tests.factories import propose, shown_digest

pytestmark = pytest.mark.django_db


def person(name, *groups, **flags):
    user = User.objects.create_user(name, password="pw-123456789", is_staff=True, **flags)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


def approve(client, proposal):
    data = {"decision": "approve", "digest": shown_digest(client, proposal)}
    return client.post(f"/stage/approvals/{proposal.id}", data).content.decode()


def test_the_groups_carry_the_decision_permissions():
    def perms(name):
        group = Group.objects.get(name=name)
        return set(group.permissions.values_list("codename", flat=True))

    assert {"approve_proposal", "approve_code"} <= perms("approvers")
    assert {"approve_merge", "approve_deploy", "approve_prod_config"} <= perms("release managers")
    assert "approve_merge" not in perms("approvers")
    assert Permission.objects.filter(codename="approve_proposal").exists()


def test_a_staff_login_without_the_permission_cannot_approve_and_is_told_why(client, agent):
    proposal = propose(agent, "deploy", title="Ship it")
    dana = person("dana")
    dana.user_permissions.add(Permission.objects.get(codename="view_proposal"))
    client.force_login(dana)

    card = client.get("/stage/approvals").content.decode()
    page = client.get(f"/admin/missions/proposal/{proposal.id}/change/").content.decode()
    answer = approve(client, proposal)
    client.post(
        f"/admin/missions/proposal/{proposal.id}/decide/",
        {"decision": "approve", "digest": shown_digest(client, proposal)},
    )

    assert "needs: can approve proposals — dana can&#x27;t" in card
    assert "needs: can approve proposals — dana can&#x27;t" in page
    assert "Not decided: needs: can approve proposals" in answer
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    assert (
        Event.objects.filter(kind="proposal.decision_refused", actor="operator:dana").count() == 2
    )


def test_an_approver_approves_an_agents_proposal(client, agent):
    proposal = propose(agent, "post_tweet", title="Say it")
    client.force_login(person("erin", "approvers"))

    approve(client, proposal)

    proposal.refresh_from_db()
    assert proposal.status == "accepted" and proposal.decided_by == "operator:erin"


def test_a_proposal_that_deploys_also_needs_the_deploy_permission(client, agent):
    proposal = propose(agent, "deploy", title="Ship it")
    client.force_login(person("hal", "approvers"))

    refused = approve(client, proposal)
    client.force_login(person("ivy", "approvers", "release managers"))
    approve(client, proposal)

    assert "needs: can approve deploys — hal can&#x27;t" in refused
    proposal.refresh_from_db()
    assert proposal.status == "accepted" and proposal.decided_by == "operator:ivy"


def test_the_author_cannot_approve_their_own_task_even_as_a_superuser(client, agent):
    boss = person("boss", is_superuser=True)
    client.force_login(boss)
    client.post("/stage/task", {"agent": "devops", "kind": "deploy", "title": "Mine", "token": "t"})
    proposal = Proposal.objects.get()

    card = client.get("/stage/approvals").content.decode()
    page = client.get(f"/admin/missions/proposal/{proposal.id}/change/").content.decode()
    answer = approve(client, proposal)

    assert "boss proposed this" in card and "boss proposed this" in page
    assert "boss proposed this" in answer
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    client.force_login(person("fay", "approvers", "release managers"))
    approve(client, proposal)
    proposal.refresh_from_db()
    assert proposal.status == "accepted" and proposal.decided_by == "operator:fay"


def test_the_author_may_still_withdraw_their_own_proposal(client, agent):
    client.force_login(person("gil", "approvers"))
    client.post("/stage/task", {"agent": "devops", "kind": "deploy", "title": "Mine", "token": "t"})
    proposal = Proposal.objects.get()

    client.post(f"/stage/approvals/{proposal.id}", {"decision": "reject", "reason": "changed mind"})

    proposal.refresh_from_db()
    assert proposal.status == "rejected"


@pytest.mark.django_db(transaction=True)
def test_the_groups_outlive_a_transactional_tests_flush():
    """tests/flush.py writes them back: a test here passed or failed by what ran before it."""
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)  # as a test ends

    assert set(Group.objects.values_list("name", flat=True)) == {"approvers", "release managers"}
    assert Group.objects.get(name="approvers").permissions.count() == 4
    assert Group.objects.get(name="release managers").permissions.count() == 5
