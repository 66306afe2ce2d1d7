"""Template context every page needs: whether the words on it are the offline provider's."""

from django.conf import settings

OFFLINE_BANNER = (
    "Offline LLM provider: agents' words are deterministic stand-ins marked [offline]; "
    "nothing is posted and nothing learned offline reaches a real model."
)


def llm_provider(request) -> dict:
    """Read per request, so the banner follows the setting without a restart of templates."""
    offline = settings.OPSCORE_LLM == "offline"
    return {"offline_llm": offline, "offline_banner": OFFLINE_BANNER if offline else ""}
