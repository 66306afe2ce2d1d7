"""System checks for the publishing channels: a channel half configured (a URL without its
token) would silently record every post locally, and a plain-http endpoint (or an SMTP sign-in
without TLS) would carry a credential in clear; both are named at startup (`manage.py check`)
with what to set. A timeout that lets one delivery attempt outlast the outbox's claim is an
error: another deliverer (a second supervisor's) then claims the row and sends it again."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Warning

from missions.outbox import CLAIM_SECONDS

PARTS = {
    "x": ("OPS_X_ACCESS_TOKEN",),
    "bluesky": ("OPS_BLUESKY_HANDLE", "OPS_BLUESKY_APP_PASSWORD"),
    "mastodon": ("OPS_MASTODON_URL", "OPS_MASTODON_TOKEN"),
    "post_webhook": ("OPS_POST_WEBHOOK_URL", "OPS_POST_WEBHOOK_SECRET"),
}
URLS = ("OPS_X_API_URL", "OPS_BLUESKY_PDS_URL", "OPS_BLUESKY_APPVIEW_URL", "OPS_MASTODON_URL")
URLS += ("OPS_POST_WEBHOOK_URL",)
# The most calls one post's attempt makes: X's look (2), its post, and after a "duplicate"
# its look again (2).
CALLS_PER_ATTEMPT = 5
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_channels(app_configs, **kwargs):
    problems = deadline_problems()
    for channel, names in PARTS.items():
        missing = [name for name in names if not getattr(settings, name)]
        if missing and len(missing) < len(names):
            problems.append(
                Warning(
                    f"{channel} is half configured: {', '.join(missing)} not set; its posts "
                    "are recorded locally, not published.",
                    hint=f"Set {' and '.join(names)}, or neither.",
                    id="opportunities.W001",
                )
            )
    for name in URLS:
        url = urlsplit(getattr(settings, name))
        if url.scheme and url.scheme != "https" and url.hostname not in LOCAL_HOSTS:
            problems.append(
                Warning(
                    f"{name} is not https: a credential would cross the network in clear.",
                    hint="Use the https:// address.",
                    id="opportunities.W002",
                )
            )
    return problems + mail_problems()


def mail_problems() -> list[Warning]:
    """An SMTP sign-in with neither STARTTLS (submission://) nor implicit TLS (smtps://) sends
    the password in clear to any host but this one; named without the password."""
    smtp = settings.EMAIL_BACKEND == "opscore.mail.DeadlineEmailBackend"
    signs_in = smtp and settings.EMAIL_HOST_PASSWORD
    secured = settings.EMAIL_USE_TLS or settings.EMAIL_USE_SSL
    if not signs_in or secured or settings.EMAIL_HOST in LOCAL_HOSTS:
        return []
    return [
        Warning(
            f"EMAIL_URL signs in to {settings.EMAIL_HOST} without TLS: the password crosses "
            "the network in clear.",
            hint="Use submission:// (STARTTLS) or smtps:// (implicit TLS) in EMAIL_URL.",
            id="opportunities.W003",
        )
    ]


def deadline_problems() -> list[Error]:
    """OPS_CHANNEL_TIMEOUT bounds each call, EMAIL_TIMEOUT a whole SMTP conversation and
    OPS_AGENT_WAKE_TIMEOUT_SECONDS a wake: each must leave an attempt inside the claim, and be
    a second at least (0 fails every call)."""
    attempts = {
        "OPS_CHANNEL_TIMEOUT": (settings.OPS_CHANNEL_TIMEOUT, CALLS_PER_ATTEMPT),
        "EMAIL_TIMEOUT": (settings.EMAIL_TIMEOUT, 1),
        "OPS_AGENT_WAKE_TIMEOUT_SECONDS": (settings.OPS_AGENT_WAKE_TIMEOUT_SECONDS, 1),
    }
    problems = []
    for name, (seconds, calls) in attempts.items():
        if isinstance(seconds, int | float) and 1 <= seconds * calls < CLAIM_SECONDS:
            continue
        most = (CLAIM_SECONDS - 1) // calls
        problems.append(
            Error(
                f"{name}={seconds} is not 1 to {most} seconds: an attempt must end within the "
                f"outbox's {CLAIM_SECONDS} s claim ({calls} call(s) at most), or another "
                "deliverer sends the message again.",
                hint=f"Set {name} to 1 to {most}.",
                id="opportunities.E001",
            )
        )
    return problems
