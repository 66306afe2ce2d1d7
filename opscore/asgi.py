import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")

from opscore.localenv import load_local_secrets

load_local_secrets()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

application = ProtocolTypeRouter({"http": get_asgi_application()})
