"""The policy simulator's reactions: the window's events matched again against an edited
reaction matrix, with the matcher's own `_matches` and `pattern_key` (missions.loop), beside
the Reaction rows the live matrix wrote for them.

A recorded reaction whose pattern no longer matches would not have fired (nor made its
proposal); a new match would have rolled its probability, so it is reported with its odds
(the expected number is their sum), never as a certainty. Cooldowns are not replayed.
"""

import time
from dataclasses import dataclass, field

from missions.loop import _matches, pattern_key
from missions.models import Reaction
from missions.simulation import CHUNK, SimulationStopped, Window, admin_url
from opscore.models import Event


@dataclass
class Reactions:
    examples: int
    stop: dict = field(default_factory=lambda: {"count": 0, "examples": []})
    start: dict = field(default_factory=lambda: {"count": 0, "expected": 0.0, "examples": []})

    def keep(self, table: dict, item: dict) -> None:
        table["count"] += 1
        if len(table["examples"]) < self.examples:
            table["examples"].append(item)

    def as_json(self) -> dict:
        self.start["expected"] = round(self.start["expected"], 2)
        return {"would_not_fire": self.stop, "would_fire": self.start}


def recorded(window: Window, first: int, last: int) -> dict[int, list]:
    """The live matrix's reactions to events first..last: event id → [(key, id, proposal)],
    each event's in the order they fired."""
    rows = (
        Reaction.objects.filter(
            source_event_id__gte=first, source_event_id__lte=last, created_at__gte=window.start
        )
        .exclude(status="skipped")
        .order_by("id")
    )
    found: dict[int, list] = {}
    for event_id, key, rid, proposal in rows.values_list(
        "source_event_id", "pattern_key", "id", "proposal_id"
    ):
        found.setdefault(event_id, []).append((key, rid, proposal))
    return found


def event_chunks(window: Window):
    events = Event.objects.filter(created_at__gte=window.start, created_at__lte=window.end)
    chunk = []
    for row in events.order_by("id").only("id", "agent_id", "tags", "title").iterator(CHUNK):
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def replay_reactions(window: Window, matrix, *, examples: int, deadline: float) -> dict:
    patterns = [(pattern_key(p.model_dump()), p) for p in matrix.patterns]
    found = Reactions(examples)
    for events in event_chunks(window):
        if time.monotonic() > deadline:
            raise SimulationStopped(f"stopped at event {events[0].id}")
        live = recorded(window, events[0].id, events[-1].id)
        for event in events:
            judge(event, patterns, live.get(event.id, []), found)
    return found.as_json()


def judge(event, patterns, live: list, found: Reactions) -> None:
    matching = {key: p for key, p in patterns if _matches(p, event)}
    for key, rid, proposal in live:
        if key not in matching:
            item = {"reaction": rid, "event": event.id, "title": event.title}
            item |= {"proposal": proposal, "url": admin_url("missions_reaction", rid)}
            found.keep(found.stop, item)
    fired = {key for key, _, _ in live}
    for key, pattern in matching.items():  # the matrix's order, never a set's (hash seed)
        if key in fired:
            continue
        found.start["expected"] += pattern.probability
        item = {"event": event.id, "title": event.title, "target": pattern.target}
        item |= {"probability": pattern.probability, "url": admin_url("opscore_event", event.id)}
        found.keep(found.start, item)
