"""Conversation formats and the daily schedule, as data."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str
    agents: tuple[int, int]
    turns: tuple[int, int]
    temperature: float
    opener: tuple[str, ...] = ()  # who speaks first: the first of these who is present
    formal: bool = False  # formal formats may turn action items into proposals
    pairing: str = ""  # "tense" (low affinity) or "mentoring" (close, experience gap)


FORMATS = {
    f.name: f
    for f in [
        Format("standup", (4, 6), (6, 12), 0.6, opener=("coordinator", "opus"), formal=True),
        Format("debate", (2, 3), (6, 10), 0.8),
        Format("watercooler", (2, 3), (2, 5), 0.9),
        Format("brainstorm", (3, 5), (6, 10), 0.9, formal=True),
        Format("war_room", (3, 5), (6, 12), 0.5, opener=("coordinator", "opus"), formal=True),
        Format("conflict_resolution", (2, 2), (4, 8), 0.6, pairing="tense"),
        Format("mentoring", (2, 2), (4, 8), 0.7, pairing="mentoring"),
        Format("strategy", (3, 4), (6, 10), 0.7, opener=("coordinator", "opus")),
        Format("deep_dive", (2, 3), (6, 10), 0.6),
        Format("check_in", (2, 3), (3, 6), 0.7),
        Format("content_review", (2, 4), (4, 8), 0.7, opener=("publisher", "creator")),
        Format("night_briefing", (2, 4), (4, 8), 0.6, opener=("auditor", "observer")),
        Format("retrospective", (3, 5), (6, 10), 0.6, opener=("coordinator", "opus")),
        Format("planning", (3, 5), (6, 10), 0.6, opener=("coordinator", "opus")),
        Format("one_on_one", (2, 2), (4, 8), 0.7),
        Format("show_and_tell", (3, 5), (4, 8), 0.8),
    ]
}

# 24 hourly slots (UTC): format, who (role first, then how many others at random), probability.
SCHEDULE = [
    (0, "deep_dive", 2, 0.4),
    (1, "watercooler", 2, 0.4),
    (2, "night_briefing", 3, 0.5),
    (3, "one_on_one", 2, 0.4),
    (4, "check_in", 2, 0.4),
    (5, "deep_dive", 2, 0.5),
    (6, "standup", 5, 1.0),
    (7, "brainstorm", 4, 0.7),
    (8, "strategy", 3, 0.6),
    (9, "check_in", 3, 0.6),
    (10, "mentoring", 2, 0.5),
    (11, "content_review", 3, 0.6),
    (12, "watercooler", 2, 0.7),
    (13, "deep_dive", 2, 0.6),
    (14, "war_room", 3, 0.4),
    (15, "check_in", 2, 0.6),
    (16, "content_review", 3, 0.5),
    (17, "debate", 2, 0.7),
    (18, "watercooler", 3, 0.8),
    (19, "debate", 2, 0.6),
    (20, "night_briefing", 3, 0.6),
    (21, "conflict_resolution", 2, 0.4),
    (22, "show_and_tell", 3, 0.4),
    (23, "retrospective", 3, 0.4),
]
