from django.conf import settings
from django.core.checks import Error, Tags, Warning
from django.db import DatabaseError, connections

MIN_SECRET_LENGTH = 32  # shorter bearer secrets are refused: they are guessable


def check_postgres(app_configs, **kwargs):
    vendor = connections["default"].vendor
    if vendor != "postgresql":
        return [
            Error(
                f"The database is {vendor}; Opscore needs PostgreSQL.",
                hint="Unset DATABASE_URL to use the embedded server, or point it at Postgres.",
                id="opscore.E001",
            )
        ]
    return []


def check_secrets(app_configs, **kwargs):
    problems = []
    if settings.SECRET_KEY_IS_EPHEMERAL:
        problems.append(
            Warning(
                "SECRET_KEY is not set; a random one is used and sessions end on restart.",
                hint="Set SECRET_KEY in the environment (make run does this for you).",
                id="opscore.W001",
            )
        )
    if not settings.OPS_API_TOKEN:
        problems.append(
            Warning(
                "OPS_API_TOKEN is not set; POST /api/ops/proposals refuses every request.",
                id="opscore.W002",
            )
        )
    if not settings.CRON_SECRET:
        problems.append(
            Warning(
                "CRON_SECRET is not set; POST /api/ops/heartbeat refuses every request.",
                id="opscore.W003",
            )
        )
    for name in ("OPS_API_TOKEN", "CRON_SECRET", "OPS_METRICS_TOKEN"):
        value = getattr(settings, name)
        if value and len(value) < MIN_SECRET_LENGTH:
            problems.append(
                Warning(
                    f"{name} is shorter than {MIN_SECRET_LENGTH} characters; the endpoints "
                    "it guards refuse every request (503) until it is longer.",
                    hint=f"Unset it to have one generated, or set {MIN_SECRET_LENGTH}+ chars.",
                    id="opscore.W004",
                )
            )
    return problems


def check_policy_names(app_configs, **kwargs):
    """A stored policy naming a step kind (or lane) whose code is not loaded: kept and ignored,
    but an operator should know, e.g. after removing a plug-in."""
    from opscore.models import Policy
    from opscore.policy_names import describe_unknown

    try:
        found = Policy.objects.unknown_names()
    except DatabaseError:  # not migrated yet, or the database is down: other checks say so
        return []
    return [
        Warning(
            f"Policy {line} is not known to any loaded app; it is kept and ignored.",
            hint="Re-enable the plug-in that provides it, or remove it from the policy "
            "(admin → Policies; worker_switches and lane_switches through overrides).",
            id="opscore.W005",
        )
        for line in describe_unknown(found)
    ]


def check_app_role(app_configs, **kwargs):
    """Normal work as the database's superuser turns any SQL bug into a server takeover
    (opscore.db_roles). The test runner keeps the superuser on purpose: it creates databases."""
    from opscore.db_roles import is_superuser

    if settings.TESTING:
        return []
    try:
        superuser = is_superuser(connections["default"])
    except DatabaseError:
        return []
    if not superuser:
        return []
    role = connections["default"].settings_dict.get("USER") or "(default)"
    return [
        Warning(
            f"Opscore connects to the database as {role!r}, a superuser.",
            hint="Create a role of its own (NOSUPERUSER, owning the app's objects: see "
            "opscore/db_roles.py), put it in DATABASE_URL, and the superuser in "
            "DATABASE_ADMIN_URL for restores.",
            id="opscore.W020",
        )
    ]


def check_model_prices(app_configs, **kwargs):
    """A paid provider's model with no price costs $0 a call (opscore.llm_providers.cost_of):
    every budget would say it holds while spending went on."""
    if settings.OPSCORE_LLM != "anthropic":
        return []
    unpriced = [
        f"{model} ({tier})"
        for tier, model in settings.OPS_ANTHROPIC_MODELS.items()
        if model not in settings.OPS_LLM_PRICES
    ]
    if not unpriced:
        return []
    return [
        Warning(
            f"No price in OPS_LLM_PRICES for {', '.join(unpriced)}: its calls are counted at "
            "$0, so no budget holds for them.",
            hint="Set OPS_ANTHROPIC_MODEL_MAIN / _CHEAP to a priced model, or add its price.",
            id="opscore.W006",
        )
    ]


CHECKS = [
    (check_postgres, [Tags.database]),
    (check_secrets, []),
    (check_model_prices, []),
    (check_policy_names, []),
    (check_app_role, []),
]
