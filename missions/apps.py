from django.apps import AppConfig
from django.conf import settings


class MissionsConfig(AppConfig):
    name = "missions"

    def ready(self):
        """Everything the execution lane contributes, registered by name in one place."""
        from missions import (
            checkers,
            config_changes,
            executors,
            gates,
            outbox,
            override_kinds,
            step_kinds,
            wake,
            work_executors,
        )
        from opscore.lanes import contribute
        from opscore.registry import STEP_KINDS, STEP_PREVIEWS

        register_edges()
        STEP_KINDS.register_all({kind.name: kind for kind in step_kinds.BUILTIN})
        executors.EXECUTORS.register_all(work_executors.EXECUTORS)
        STEP_KINDS.register(config_changes.KIND, config_changes.STEP_KIND)
        executors.EXECUTORS.register(config_changes.KIND, config_changes.run_config_change)
        STEP_PREVIEWS.register(config_changes.KIND, config_changes.diff_preview)
        outbox.CHANNELS.register_all({"local": outbox.deliver_locally})
        outbox.CHANNELS.register_all({wake.CHANNEL: wake.deliver_wake})
        gates.GATES.register_all(gates.BUILTIN)
        checkers.CHECKERS.register_all(checkers.BUILTIN)
        checkers.READS_EVENTS.register_all(checkers.BUILTIN_EVENTS)
        checkers.READS_WINDOWS.register_all(checkers.BUILTIN_WINDOWS)
        executors.register_plugins(settings.OPS_EXECUTOR_MODULES)
        override_kinds.register()
        from missions import recovery, threads, words

        recovery.BLOCKER_CHECKS.register(threads.WAITING, threads.question_settled)
        recovery.BLOCKER_CHECKS.register(words.WAITING, words.words_cleared)
        contribute("triggers", duties=["evaluate_triggers"], on=True)
        contribute("reactions", duties=["process_reactions"], on=True)
        contribute("publishing", kinds=["post_tweet"])


def register_edges():
    """What the lane adds to opscore's own registries: its policies, its standing orders, and
    the purposes of its calls that spend another lane's budget."""
    from missions import orders, policies
    from opscore.budgets import LANE_OF_PREFIX
    from opscore.policies import SCHEMAS
    from opscore.standing_orders import HANDLERS

    SCHEMAS.register_all(policies.POLICIES)
    HANDLERS.register_all(orders.HANDLERS)
    LANE_OF_PREFIX.register("thread.", "talk")  # thread replies: the talk lane (console)
