"""The give-task form's token makes a double click one proposal, and nothing more: a token
longer than the form ever sends is refused in place, never cut (cut to 40 characters, two
tokens sharing their first 40 were one submission, and the second task silently vanished)."""

import pytest

from missions.models import Proposal

pytestmark = pytest.mark.django_db


def give(client, title, token):
    form = {"agent": "devops", "kind": "analyze", "title": title, "token": token}
    return client.post("/stage/task", form)


def test_a_double_click_with_the_same_token_is_one_proposal(admin_client, agent):
    give(admin_client, "Check disks", "t" * 40)
    again = give(admin_client, "Check disks", "t" * 40)

    assert again.status_code == 200
    assert Proposal.objects.filter(title="Check disks").count() == 1


def test_a_token_past_40_characters_is_refused_in_place_not_cut(admin_client, agent):
    give(admin_client, "Check disks", "t" * 40 + "a")
    second = give(admin_client, "Rotate logs", "t" * 40 + "b")

    page = second.content.decode()
    assert second.status_code == 400
    assert "token: at most 40 characters (41 given); the form has a new one" in page
    assert 'value="Rotate logs"' in page
    assert "t" * 40 not in page  # a fresh token, not the refused one
    assert not Proposal.objects.exists()


def test_a_refused_token_asks_for_the_form_again_not_for_a_field_marked_above(admin_client, agent):
    refused = give(admin_client, "Rotate logs", "t" * 41).content.decode()

    assert "Not submitted: the form was refreshed: submit it again." in refused
    assert "marked above" not in refused  # no field is marked: the token was refused
