"""System checks for the publishing channels: a channel half configured (a URL without its
token) would silently record every post locally, and a plain-http endpoint would carry a
credential in clear; both are named at startup (`manage.py check`) with what to set."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Warning

PARTS = {
    "x": ("OPS_X_ACCESS_TOKEN",),
    "bluesky": ("OPS_BLUESKY_HANDLE", "OPS_BLUESKY_APP_PASSWORD"),
    "mastodon": ("OPS_MASTODON_URL", "OPS_MASTODON_TOKEN"),
    "post_webhook": ("OPS_POST_WEBHOOK_URL", "OPS_POST_WEBHOOK_SECRET"),
}
URLS = ("OPS_X_API_URL", "OPS_BLUESKY_PDS_URL", "OPS_BLUESKY_APPVIEW_URL", "OPS_MASTODON_URL")
URLS += ("OPS_POST_WEBHOOK_URL",)


def check_channels(app_configs, **kwargs):
    problems = []
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
        if url.scheme and url.scheme != "https" and url.hostname not in ("localhost", "127.0.0.1"):
            problems.append(
                Warning(
                    f"{name} is not https: a credential would cross the network in clear.",
                    hint="Use the https:// address.",
                    id="opportunities.W002",
                )
            )
    return problems
