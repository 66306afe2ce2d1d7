"""Roster templates: the agents, relationships, orders and rules a company starts from (data
files in console/rosters/), validated on load."""

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscore.models import Agent

ROSTERS_DIR = Path(__file__).resolve().parent / "rosters"
DEFAULT_ROSTER = "ops-ten"


class BootstrapError(ValueError):
    pass


class RosterAgent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    display_name: str
    role: str
    tone: str = ""
    quirk: str = ""
    signature: str = ""
    system_directive: str = ""
    phase: int = Field(ge=1, le=5)
    max_concurrent_steps: int = Field(default=1, ge=1)
    daily_proposal_limit: int = Field(default=20, ge=0)


class RosterPair(BaseModel):
    a: str
    b: str
    affinity: float = Field(ge=0.1, le=0.95)
    backstory: str = ""


class Roster(BaseModel):
    name: str
    description: str = ""
    agents: list[RosterAgent]
    relationships: list[RosterPair] = []
    reaction_matrix: list[dict] = []  # the tutorial's patterns, aimed at this roster's agents
    # A roster with its own orders and rules names them; otherwise the shared files (ops-ten's)
    standing_orders: list[dict] | None = None
    trigger_rules: list[dict] | None = None

    def orders(self) -> list[dict]:
        return self.standing_orders if self.standing_orders is not None else shared("orders")

    def rules(self) -> list[dict]:
        return self.trigger_rules if self.trigger_rules is not None else shared("rules")


SHARED_FILES = {"orders": "standing-orders.json", "rules": "trigger-rules.json"}


def shared(what: str) -> list[dict]:
    return json.loads((ROSTERS_DIR / SHARED_FILES[what]).read_text())[what]


def roster_names() -> list[str]:
    shared_files = set(SHARED_FILES.values())
    return sorted(path.stem for path in ROSTERS_DIR.glob("*.json") if path.name not in shared_files)


def installed_roster() -> str:
    """The roster this install was bootstrapped with, so later phases need not repeat it."""
    roster = Agent.objects.exclude(roster="").values_list("roster", flat=True).first()
    return roster or DEFAULT_ROSTER


def load_roster(name: str) -> Roster:
    """A roster by its name, one of roster_names(): a name is no path (`--roster` of 300
    characters was an OSError traceback, `../x` read a file outside the rosters)."""
    if name not in roster_names():
        raise BootstrapError(f"unknown roster {name!r}; known: {', '.join(roster_names())}")
    path = ROSTERS_DIR / f"{name}.json"
    try:
        return Roster.model_validate(json.loads(path.read_text()))
    except (ValueError, ValidationError) as error:
        raise BootstrapError(f"roster {name} is malformed: {error}") from None
