"""A known secret is masked as a URL carries it too: a password with '@' or '/' is
percent-encoded in DATABASE_URL, EMAIL_URL or REDIS_URL, and an HTTP library quotes what it
sends, so the text an error or a log line names is not the value the setting holds."""

import pytest

from opscore.redaction import redact_text

# Only the password the redaction reads changes here: Django's warning is not news.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES:UserWarning")


@pytest.fixture
def odd_password(settings):
    database = settings.DATABASES["default"] | {"PASSWORD": "p@ss/w0rd:2024 x"}
    settings.DATABASES = settings.DATABASES | {"default": database}
    return database["PASSWORD"]


@pytest.mark.parametrize(
    "said",
    [
        "could not connect to postgres://app:p%40ss%2Fw0rd%3A2024%20x@db:5432/opscore",
        "dsn postgres://app:p%40ss/w0rd%3A2024%20x@db/opscore",  # '/' left as it is
    ],
)
def test_a_percent_encoded_password_is_masked(odd_password, said):
    assert "w0rd" not in redact_text(said)
    assert "[redacted]" in redact_text(said)


def test_the_password_as_written_is_still_masked(odd_password):
    assert redact_text(f"password was {odd_password}") == "password was [redacted]"
