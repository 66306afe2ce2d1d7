import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")

from opscore import serving

serving.ASGI = True  # before the settings are read: the server's defaults (DB_POOL)

from opscore.localenv import load_local_secrets  # noqa: E402

load_local_secrets()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

django_app = get_asgi_application()

from console.stage.consumers import StageConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_app,
        # Foreign origins are refused: only pages served from ALLOWED_HOSTS may connect.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/stage/", StageConsumer.as_asgi())]))
        ),
    }
)
