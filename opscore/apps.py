from django.apps import AppConfig


class OpscoreConfig(AppConfig):
    name = "opscore"

    def ready(self):
        from django.core import checks as django_checks
        from django.db.models.signals import post_migrate

        from opscore import budgets, checks, lanes, overrides, policies

        overrides.OVERRIDE_KINDS.register("pause_lane", overrides.PAUSE_LANE)
        policies.SCHEMAS.register_all(
            {
                "worker_switches": policies.WorkerSwitches,
                "llm_budget": budgets.LLMBudget,
                "lane_switches": lanes.LaneSwitches,
            }
        )
        budgets.LLM_LANES.register(budgets.BASE_LANE, (2.0, 3.0))
        post_migrate.connect(budgets.sync_spend_zone, sender=self)
        overrides.OWNED.register_all({"lane_switches": None, "worker_switches": None})

        for check, tags in checks.CHECKS:
            django_checks.register(check, *tags)
