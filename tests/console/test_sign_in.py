"""Opscore's own sign-in page: a watcher (signed in, not staff) reaches the Stage through it,
where the admin's login refuses anyone who is not staff. A wrong password is said so, an
off-site `next` is not followed, and the admin keeps its own login."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def watcher(settings):
    settings.STAGE_PUBLIC = False  # the Stage needs signing in, so the way in is tested
    return get_user_model().objects.create_user("watcher", password="a-watchers-password")


def sign_in(client, path, password="a-watchers-password"):
    """Follows `path` to the login it sends a visitor to, then posts the form it finds there."""
    page = client.get(path, follow=True)
    login = page.redirect_chain[-1][0]
    fields = {"username": "watcher", "password": password, "next": page.context.get("next")}
    return client.post(login, {k: v for k, v in fields.items() if v}, follow=True)


def test_it_signs_a_watcher_in_and_lands_on_the_stage_read_only(client, watcher):
    answer = sign_in(client, "/stage/")

    assert answer.redirect_chain[-1] == ("/stage/", 302)
    assert answer.status_code == 200
    assert "watcher may watch the Stage; acting on it needs a staff account" in answer.text
    assert 'name="title"' not in answer.text  # no Give task form for a watcher


def test_the_sign_in_page_is_a_stage_page_with_a_csrf_token(client, watcher):
    page = client.get("/stage/", follow=True)

    assert page.redirect_chain[-1][0].startswith("/stage/login?next=")
    assert "csrfmiddlewaretoken" in page.text
    assert "Opscore Sign in" in page.text


def test_a_wrong_password_says_so_and_signs_nobody_in(client, watcher):
    answer = sign_in(client, "/stage/", password="not-it")

    assert answer.status_code == 200
    assert "Please enter a correct username and password" in answer.text
    assert "_auth_user_id" not in client.session


def test_an_off_site_next_is_not_followed(client, watcher):
    fields = {"username": "watcher", "password": "a-watchers-password"}

    for elsewhere in ("https://evil.example/", "//evil.example/stage/", "/\\evil.example"):
        answer = client.post(f"/stage/login?next={elsewhere}", fields)
        assert answer.status_code == 302
        assert answer.headers["Location"] == "/stage/", elsewhere


def test_signing_out_takes_a_post_and_comes_back_to_the_stage(client, watcher):
    client.force_login(watcher)

    assert client.get("/stage/logout").status_code == 405
    answer = client.post("/stage/logout")

    assert answer.headers["Location"] == "/stage/"
    assert "_auth_user_id" not in client.session


def test_the_admin_keeps_its_own_login_for_staff(client, watcher):
    answer = client.get("/admin/")
    assert answer.headers["Location"] == "/admin/login/?next=/admin/"

    client.force_login(watcher)  # a watcher is not let into the admin by the Stage's sign-in
    assert client.get("/admin/").headers["Location"] == "/admin/login/?next=/admin/"


def test_repeated_wrong_passwords_are_locked_out_here_as_at_the_admin(client, watcher):
    for _ in range(5):
        sign_in(client, "/stage/", password="not-it")

    answer = sign_in(client, "/stage/")

    assert answer.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("login", ["/stage/login", "/admin/login/"])
def test_a_name_longer_than_any_users_is_a_form_error_and_no_attempt_is_recorded(
    client, watcher, login
):
    client.raise_request_exception = False

    answer = client.post(login, {"username": "w" * 256, "password": "a-watchers-password"})

    assert answer.status_code == 200
    assert "Ensure this value has at most 150 characters (it has 256)." in answer.text
    assert not AccessAttempt.objects.exists()
