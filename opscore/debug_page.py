"""DEBUG's error page (Django's technical 500) with the installation's secrets masked; its own
module so that redaction, which every log line imports, does not pull in Django's views."""

from django.utils.html import escape
from django.views.debug import ExceptionReporter

from opscore.redaction import REDACTED, _known_secrets, redact_text


class RedactingExceptionReporter(ExceptionReporter):
    """DEBUG's error page, and its text: Django hides a setting by its name alone (KEY, PASS),
    which leaves EMAIL_URL's password, the chat webhook's URL and a frame's local variables
    holding them readable to whoever made the failing request."""

    def get_traceback_html(self):
        page = super().get_traceback_html()
        for secret in _known_secrets():
            page = page.replace(escape(secret), REDACTED)
        return redact_text(page)

    def get_traceback_text(self):
        return redact_text(super().get_traceback_text())
