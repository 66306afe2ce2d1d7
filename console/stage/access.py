"""Who may see the Stage: everyone when STAGE_PUBLIC, otherwise signed-in operators. Pages send
a visitor to the login; fragments answer 403."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login


def stage_visible(request) -> bool:
    return settings.STAGE_PUBLIC or request.user.is_authenticated


def visible_or_login(request):
    return None if stage_visible(request) else redirect_to_login(request.get_full_path())
