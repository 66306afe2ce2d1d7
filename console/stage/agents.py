"""Agent cards and the roster's affinity graph: who each agent is, what it did today, what it
spent, what it remembers, how its voice has grown, and whom it gets on with."""

import math

from django.db.models import Count, Q, Sum
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.stage.access import visible_or_login
from console.stage.health import health_summary
from console.stage.scenes import office_states
from memory.models import Memory
from missions.models import Step, start_of_today
from opscore.db import db_now
from opscore.models import Agent, LLMCall
from roundtable.models import Relationship

GRAPH = 240  # the graph's square, in SVG units


def daily_numbers(slugs) -> dict[str, dict]:
    today = start_of_today()
    steps = (
        Step.objects.filter(agent__in=slugs, updated_at__gte=today)
        .values("agent")
        .annotate(
            n=Count("id"),
            ok=Count("id", filter=Q(status="succeeded")),
            bad=Count("id", filter=Q(status__in=["failed", "dead"])),
        )
    )
    spend = (
        LLMCall.objects.filter(agent__in=slugs, created_at__gte=today)
        .values("agent")
        .annotate(usd=Sum("cost_usd"))
    )
    memories = (
        Memory.objects.active().filter(agent__in=slugs).values("agent").annotate(n=Count("id"))
    )
    found = {
        slug: {"steps": 0, "succeeded": 0, "failed": 0, "usd": 0, "memories": 0} for slug in slugs
    }
    for row in steps:
        found[row["agent"]] |= {"steps": row["n"], "succeeded": row["ok"], "failed": row["bad"]}
    for row in spend:
        found[row["agent"]]["usd"] = float(row["usd"] or 0)
    for row in memories:
        found[row["agent"]]["memories"] = row["n"]
    return found


def relations_of(slugs) -> list[Relationship]:
    return list(Relationship.objects.filter(agent_a__in=slugs, agent_b__in=slugs))


def closest_and_tensest(slug: str, relations) -> tuple:
    mine = [r for r in relations if slug in (r.agent_a_id, r.agent_b_id)]
    if not mine:
        return None, None

    def other(r):
        return {
            "agent": r.agent_b_id if r.agent_a_id == slug else r.agent_a_id,
            "affinity": r.affinity,
        }

    ranked = sorted(mine, key=lambda r: r.affinity)
    return other(ranked[-1]), other(ranked[0])


def affinity_graph(slugs, relations) -> dict:
    """The roster on a circle; a line per pair, thicker and greener the closer they are."""
    centre, radius = GRAPH / 2, GRAPH / 2 - 30
    where = {
        slug: (
            round(centre + radius * math.cos(2 * math.pi * i / len(slugs) - math.pi / 2), 1),
            round(centre + radius * math.sin(2 * math.pi * i / len(slugs) - math.pi / 2), 1),
        )
        for i, slug in enumerate(slugs)
    }
    lines = [
        {
            "a": r.agent_a_id,
            "b": r.agent_b_id,
            "affinity": r.affinity,
            "x1": where[r.agent_a_id][0],
            "y1": where[r.agent_a_id][1],
            "x2": where[r.agent_b_id][0],
            "y2": where[r.agent_b_id][1],
            "width": round(0.5 + float(r.affinity) * 4, 1),
            "mood": "close" if r.affinity >= 0.7 else "tense" if r.affinity <= 0.35 else "even",
        }
        for r in relations
    ]
    nodes = [{"slug": s, "x": x, "y": y} for s, (x, y) in where.items()]
    return {"size": GRAPH, "nodes": nodes, "lines": lines}


@require_GET
def agents_page(request):
    if refusal := visible_or_login(request):
        return refusal
    sprites = {s["slug"]: s for s in office_states(db_now())}
    agents = list(Agent.objects.enabled())
    slugs = [a.slug for a in agents]
    numbers, relations = daily_numbers(slugs), relations_of(slugs)
    cards = []
    for agent in agents:
        closest, tensest = closest_and_tensest(agent.slug, relations)
        sprite = sprites.get(agent.slug, {})
        cards.append(
            {
                "agent": agent,
                "state": sprite.get("state", "coffee"),
                "voice": sprite.get("voice", []),
                "today": numbers[agent.slug],
                "closest": closest,
                "tensest": tensest,
            }
        )
    context = {
        "cards": cards,
        "graph": affinity_graph(slugs, relations),
        "health": health_summary(),
        "view": "agents",
    }
    return render(request, "stage/agents.html", context)
