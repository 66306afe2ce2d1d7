from django.apps import AppConfig


class OpscoreConfig(AppConfig):
    name = "opscore"

    def ready(self):
        from opscore import checks  # noqa: F401
