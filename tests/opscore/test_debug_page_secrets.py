"""DEBUG=True's error page (Django's technical 500, shown to whoever made the request that
failed, the Stage's visitors included) keeps the installation's secrets out: Django hides a
setting by its name alone (KEY, TOKEN, PASS...), so EMAIL_URL's SMTP password, the chat
webhook's URL and a frame's local variables holding them were shown as they are."""

import sys

from django.test import RequestFactory
from django.views.debug import technical_500_response

# Joined here: the page shows the source around each frame, this module's lines included.
PASSWORD = "smtp-pass-" + "0123456789"
WEBHOOK = "https://hooks.example.com/services/T000/B000/" + "XXXX" + "secret" + "XXXX"


def send_the_notice(url: str):
    raise ConnectionError("the webhook did not answer")


def test_the_debug_error_page_shows_no_secret(settings):
    settings.DEBUG = True
    settings.EMAIL_URL = f"smtp://ops:{PASSWORD}@mail.example.com:587"
    settings.EMAIL_HOST_PASSWORD, settings.OPS_WEBHOOK_URL = PASSWORD, WEBHOOK
    request = RequestFactory().get("/stage/")
    try:
        send_the_notice(settings.OPS_WEBHOOK_URL)
    except ConnectionError:
        page = technical_500_response(request, *sys.exc_info())

    shown = page.content.decode()
    assert "the webhook did not answer" in shown
    assert PASSWORD not in shown and WEBHOOK.rpartition("/")[2] not in shown


# As their writers encoded them ('@' as %40, '/' as %2F, '!' left as it is); joined, as above.
EMAIL_AS_WRITTEN = "smtp%40pass" + "!0123456789"
DATABASE_URL = "postgres://ops:db%2Fpass" + "!0123456789@db.example.com/ops"


def test_a_password_written_percent_encoded_in_its_own_way_is_masked_too(settings, monkeypatch):
    """A URL's password as its writer encoded it is neither the password nor either encoding
    the masking knew, so EMAIL_URL's setting, and DATABASE_URL from the environment (which
    runserver's request.META holds), showed it."""
    settings.DEBUG = True
    settings.EMAIL_URL = f"smtp://ops:{EMAIL_AS_WRITTEN}@mail.example.com:587"
    settings.EMAIL_HOST_PASSWORD = EMAIL_AS_WRITTEN.replace("%40", "@")
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    request = RequestFactory().get("/stage/", DATABASE_URL=DATABASE_URL)
    try:
        send_the_notice("https://example.com/")
    except ConnectionError:
        page = technical_500_response(request, *sys.exc_info())

    shown = page.content.decode()
    assert "the webhook did not answer" in shown and "db.example.com" in shown
    assert "pass" + "!0123456789" not in shown
