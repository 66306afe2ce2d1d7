from django.apps import AppConfig


class OpscoreConfig(AppConfig):
    name = "opscore"

    def ready(self):
        from django.core import checks as django_checks

        from opscore import checks, overrides

        overrides.OVERRIDE_KINDS.register("pause_lane", overrides.PAUSE_LANE)

        for check, tags in checks.CHECKS:
            django_checks.register(check, *tags)
