import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opscore.settings")

from opscore import serving

serving.ASGI = True  # before the settings are read: the server's defaults (DB_POOL)

from opscore.localenv import load_local_secrets  # noqa: E402

load_local_secrets()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

django_app = get_asgi_application()

from console.body_limit import BodyLimit  # noqa: E402
from console.stage.consumers import StageConsumer  # noqa: E402
from console.stage.origins import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimit(django_app),  # a body within its size and time, before Django reads it
        # Foreign origins are refused: only the Stage's own pages may connect (a page of
        # another port on the same host is another origin, though its cookies are the same).
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(URLRouter([path("ws/stage/", StageConsumer.as_asgi())]))
        ),
    }
)
