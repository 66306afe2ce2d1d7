"""Trigger checkers: each reads rows and returns an Idea (work to propose) or None.

A rule names its checker in `trigger_event`; `MissionsConfig.ready()` registers these.
"""

import math
import random
from dataclasses import dataclass, field

from django.contrib.postgres.fields import ArrayField
from django.db.models import BigIntegerField, Value
from django.db.models.expressions import RawSQL

from missions.actions import IntakePass
from missions.models import ContentMetric, Publication, PublicationStatus, TriggerRule
from missions.provenance import publication_untrusted
from missions.schemas import MAX_DELAY_SECONDS
from missions.step_kinds import is_known, known_names
from opscore.models import Event
from opscore.registry import Registry

CHECKERS: Registry = Registry("trigger checker")
# name → steer(rule, beat) -> Steer | None: what may choose a proactive rule's topic instead of
# its rotation (the memory lane registers one: memory influence)
TOPIC_STEERS: Registry = Registry("topic steer")


@dataclass
class Beat:
    """One evaluation pass: its random source, the rules it may evaluate, and what the pass
    reads once and shares (the memory lane caches each agent's memories here, so a dozen rules
    cost one read per agent; the checkers read for all rules of one checker at once). A pass
    is one transaction: its intake locks and counts each agent once (`intake`, which in
    evaluate_triggers also holds the proposals' events), and what it fired is written back
    together at its end (`fired`: rule → the event id it saw)."""

    rand: random.Random
    cache: dict = field(default_factory=dict)
    rules: list[TriggerRule] = field(default_factory=list)
    intake: IntakePass = field(default_factory=IntakePass)
    fired: dict[TriggerRule, int] = field(default_factory=dict)

    def once(self, key, read):
        if key not in self.cache:
            self.cache[key] = read()
        return self.cache[key]

    def peers(self, rule: TriggerRule) -> list[TriggerRule]:
        """The pass's rules with `rule`'s checker, `rule` among them even when called alone."""
        same = [r for r in self.rules if r.trigger_event == rule.trigger_event]
        return same if any(r.pk == rule.pk for r in same) else [*same, rule]


@dataclass(frozen=True)
class Steer:
    topic: str
    memory_ids: list[int]


@dataclass(frozen=True)
class Idea:
    """What a checker proposes; the rule's action_config fills in who and what kind."""

    title: str
    payload: dict
    cause_event: Event | None = None
    seen_event_id: int | None = None
    context: dict = field(default_factory=dict)
    # Why the words it quotes are not ours, or '': a cause event answers for itself at the
    # intake, a post or a measurement (no cause event) is said here by its checker.
    untrusted: str = ""


def latest_event(rule: TriggerRule, beat: Beat, kind: str) -> Event | None:
    """The newest settled event of `kind` in log order (Event.objects.after), if it comes past
    the rule's cursor. Ids are taken at INSERT and transactions commit in another order: by id
    alone, a cursor passed an event still uncommitted, and its rule never answered it. A pass
    reads once per kind, for all rules sharing the checker: that event, and where each of
    their cursors stands in the log (an index probe each, in the same query)."""
    key = ("latest_event", rule.trigger_event)
    event, places = beat.once(
        key, lambda: _newest_settled(kind, {r.last_seen_event_id for r in beat.peers(rule)})
    )
    cursor = rule.last_seen_event_id
    if event is not None and cursor not in places:  # a rule the pass did not know of
        event, places = _newest_settled(kind, {cursor})
    if event is None or (event.xact, event.id) <= (places[cursor], cursor):
        return None
    return event


def _newest_settled(kind: str, cursors: set[int]) -> tuple[Event | None, dict[int, int]]:
    """The newest settled event of `kind` in log order, and each cursor's place in the log:
    the xact of its event, or of the nearest one below it (0: none). The places come in one
    array, a primary-key probe per cursor: the plan stays one size however many rules."""
    wanted = sorted(cursors)
    event = (
        Event.objects.filter(kind=kind)
        .settled()
        .order_by("-xact", "-id")
        .annotate(
            places=RawSQL(CURSOR_PLACES, [wanted], output_field=ArrayField(BigIntegerField()))
        )
        .first()
    )
    return event, dict(zip(wanted, event.places, strict=True)) if event else {}


CURSOR_PLACES = (
    "ARRAY(SELECT coalesce((SELECT e.xact FROM opscore_event e WHERE e.id <= c"
    " ORDER BY e.id DESC LIMIT 1), 0) FROM unnest(%s::bigint[]) WITH ORDINALITY AS u(c, n)"
    " ORDER BY n)"
)


def first_per_rule(rule: TriggerRule, beat: Beat, query, params):
    """The first row of `query(*params(rule))` (ordered), or None. A pass reads it for all
    rules of the checker in one round trip: each distinct set of parameters (a rule's own
    cursor and conditions) is one branch of a UNION ALL; one query per checker, not per rule."""
    found = beat.once(("first_per_rule", rule.trigger_event), dict)
    if params(rule) not in found:
        wanted = {params(r) for r in beat.peers(rule)} - found.keys()
        found |= _first_rows(list(wanted), query)
    return found[params(rule)]


UNION_BRANCHES = 200  # branches per round trip: keeps the statement a size Postgres plans fast


def _first_rows(wanted: list[tuple], query) -> dict:
    rows = dict.fromkeys(wanted)
    for start in range(0, len(wanted), UNION_BRANCHES):
        chunk = wanted[start : start + UNION_BRANCHES]
        head, *rest = [query(*p).annotate(branch=Value(start + i))[:1] for i, p in enumerate(chunk)]
        for row in head.union(*rest, all=True) if rest else head:
            rows[wanted[row.branch]] = row
    return rows


# The checkers that answer events past a rule's cursor, and the event kind each reads: what
# the triggers lane, paused in drop mode, refuses (missions.loop.drop_triggers).
READS_EVENTS: Registry = Registry("trigger checker's event kind")
# The checkers that answer what happened in a window (since the rule last fired), and what
# each would answer (rule, beat) -> row | None: refused alike, with the rest of the window.
READS_WINDOWS: Registry = Registry("trigger checker's window")


def mission_failed(rule, beat):
    event = latest_event(rule, beat, "mission.failed")
    if event is None:
        return None
    return Idea(
        f"Diagnose: {event.title}", {"event_id": event.id, "topic": event.title}, event, event.id
    )


def _published_since(since):
    published = Publication.objects.filter(status=PublicationStatus.PUBLISHED)
    if since:
        published = published.filter(published_at__gt=since)
    return published.order_by("-id")


def newest_published(rule: TriggerRule, beat: Beat) -> Publication | None:
    return first_per_rule(rule, beat, _published_since, lambda r: (r.window_start,))


def content_published(rule, beat):
    post = newest_published(rule, beat)
    if post is None:
        return None
    return Idea(
        f"Review what we published: {post.body[:60]}",
        {"publication_id": post.id, "topic": post.body[:200]},
        untrusted=post_untrusted(post.id, beat),
    )


def post_untrusted(publication_id: int | None, beat: Beat) -> str:
    """A post's words are those of the work that wrote it (sticky provenance): a rule quoting
    them proposes work as untrusted as that, read once a pass per post."""
    if publication_id is None:
        return ""
    key = ("publication_untrusted", publication_id)
    return beat.once(key, lambda: publication_untrusted(publication_id))


def insight_promoted(rule, beat):
    event = latest_event(rule, beat, "insight.promoted")
    if event is None:
        return None
    return Idea(
        f"Act on insight: {event.title}",
        {"event_id": event.id, "topic": event.title},
        event,
        event.id,
    )


def _engaging_since(threshold, since):
    metrics = ContentMetric.objects.filter(engagement_rate__gte=threshold)
    if since:
        metrics = metrics.filter(measured_at__gt=since)
    return metrics.order_by("-engagement_rate")


def conditions_problem(conditions: dict) -> str | None:
    """What is wrong with a rule's conditions, said where they are typed (the admin): every
    trigger pass reads them for all rules in one transaction, so a threshold that is not a
    number (float() raises) or is NaN (never equal to itself: its rule's row is never found)
    would stop every rule on every beat."""
    rate = conditions.get("min_engagement_rate", 0.05)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < math.inf:
        return f"min_engagement_rate must be a number, 0 or more ({rate!r} given)"
    return None


def action_config_problem(config, agent_exists) -> str | None:
    """What is wrong with a rule's action_config (who proposes what), said in the admin where
    it is typed, and again by every pass: a rule saved another way (a roster, a shell) or
    gone stale (its agent or kind no longer there) fails alone, not the pass of every rule."""
    if not isinstance(config, dict) or not isinstance(config.get("target_agent"), str):
        return 'must be an object with a "target_agent" slug'
    if not agent_exists(config["target_agent"]):
        return f"unknown agent {config['target_agent']!r}"
    kinds = config.get("step_kinds", ["analyze"])
    if not isinstance(kinds, list) or not all(map(is_kind_name, kinds)):
        return f"step_kinds must be a list of: {known_names()}"
    return None


def is_kind_name(value) -> bool:
    """A list or an object typed where a name belongs is not looked up: unhashable, a 500."""
    return isinstance(value, str) and is_known(value)


def topics_problem(topics) -> str | None:
    """A proactive rule rotates through its topics by position: an object raised inside the
    pass (a KeyError, every rule on every beat), a string rotated through its letters."""
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        return "topics must be a JSON list of strings"
    return None


def jitter_problem(jitter_max_minutes: int) -> str | None:
    """A proactive rule delays its steps by a roll up to jitter_max_minutes: past the longest
    delay a step takes, the intake refused the rolls that went past it, so the rule fired or
    failed by chance."""
    if jitter_max_minutes * 60 > MAX_DELAY_SECONDS:
        return f"jitter_max_minutes must be at most {MAX_DELAY_SECONDS // 60} minutes (7 days)"
    return None


def rule_problem(rule: TriggerRule, agent_exists) -> str | None:
    """Why a pass cannot evaluate the rule as saved, or None: its rule fails with the reason."""
    why = action_config_problem(rule.action_config, agent_exists)
    if why:
        why = f"action_config {why}"
    elif not isinstance(rule.conditions, dict):
        why = "conditions must be a JSON object"
    else:
        why = conditions_problem(rule.conditions) or topics_problem(rule.topics)
        why = why or (jitter_problem(rule.jitter_max_minutes) if rule.proactive else None)
    return f"broken rule: {why}" if why else None


def _engagement_params(rule) -> tuple:
    return float(rule.conditions.get("min_engagement_rate", 0.05)), rule.window_start


def most_engaging(rule: TriggerRule, beat: Beat) -> ContentMetric | None:
    return first_per_rule(rule, beat, _engaging_since, _engagement_params)


def tweet_high_engagement(rule, beat):
    best = most_engaging(rule, beat)
    if best is None:
        return None
    return Idea(
        f"Why did {best.post_ref} do well ({best.engagement_rate:.1%})?",
        {"post_ref": best.post_ref, "engagement_rate": best.engagement_rate},
        untrusted=post_untrusted(best.publication_id, beat),
    )


def steer(rule, beat) -> Steer | None:
    for name in TOPIC_STEERS.names():
        chosen = TOPIC_STEERS[name](rule, beat)
        if chosen is not None:
            return chosen
    return None


def proactive(rule, beat):
    """The rotation's next topic, unless memory steers it; either way the choice says which."""
    title = rule.action_config.get("title", rule.name)
    steered = steer(rule, beat)
    topic = steered.topic if steered else rule.next_topic() or title
    context = {
        "memory_influenced": steered is not None,
        "memory_ids": steered.memory_ids if steered else [],
    }
    return Idea(f"{title}: {topic}", {"topic": topic}, context=context)


PROACTIVE = [
    "proactive_scan_signals",
    "proactive_draft_tweet",
    "proactive_research",
    "proactive_analyze_ops",
    "proactive_review_backlog",
    "proactive_health_review",
    "proactive_knowledge_digest",
]
BUILTIN = {
    "mission_failed": mission_failed,
    "content_published": content_published,
    "insight_promoted": insight_promoted,
    "tweet_high_engagement": tweet_high_engagement,
} | dict.fromkeys(PROACTIVE, proactive)
BUILTIN_EVENTS = {"mission_failed": "mission.failed", "insight_promoted": "insight.promoted"}
BUILTIN_WINDOWS = {"content_published": newest_published, "tweet_high_engagement": most_engaging}
