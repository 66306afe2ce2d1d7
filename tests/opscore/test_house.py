"""The ground floor names no lane: `opscore` holds the mechanisms (policy store, registries, the
pause contract, budgets) and each lane plugs into them from its own AppConfig.ready(), so adding
a lane never means editing `opscore`. lint-imports proves opscore imports no lane; this proves it
does not name one either, in code, strings or docstrings (migrations aside: they are history).

The lanes are the ones the apps declare once ready — pause contracts, LLM budget lanes and their
aliases — so a new lane is checked the day it registers."""

import re
from pathlib import Path

from django.apps import apps

from opscore.budgets import BASE_LANE, LLM_LANES
from opscore.lanes import ALIASES, lane_names

OPSCORE = Path(apps.get_app_config("opscore").path)
# The settings are the composition root: they list the installed apps and read each one's
# environment, so they name them by design.
NOT_CHECKED = {"migrations", "settings.py", "settings_parts"}


def declared_lanes() -> set[str]:
    return (set(lane_names()) | set(LLM_LANES) | set(ALIASES)) - {BASE_LANE}


def mentions(pattern: re.Pattern) -> list[str]:
    found = []
    for path in sorted(OPSCORE.rglob("*.py")):
        relative = path.relative_to(OPSCORE)
        if relative.parts[0] in NOT_CHECKED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"opscore/{relative}:{number}: {m}" for m in pattern.findall(line)]
    return found


def test_it_reads_the_lanes_the_apps_declare():
    lanes = declared_lanes()
    assert {"roundtable", "memory", "proactive", "coding", "talk", "publishing"} <= lanes
    assert "opportunities" in lanes  # an alias an operator may type is a lane's name too


def test_opscore_names_no_lane():
    pattern = re.compile(r"\b(" + "|".join(sorted(declared_lanes())) + r")\b")
    assert mentions(pattern) == []
