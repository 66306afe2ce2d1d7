"""The hygiene order looks at every open opportunity, not only the oldest 500: a duplicate or
a stale one past them was never flagged, and the run said the lane was clean."""

from datetime import timedelta

import pytest

from console.bootstrap import bootstrap
from opportunities import curation
from opportunities.actions import propose_opportunity
from opportunities.models import Opportunity
from opscore.actions import record_event
from opscore.db import db_now
from opscore.models import Event, StandingOrder
from tests.factories import run_order_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(db):
    bootstrap(1, actor="test")
    bootstrap(3, actor="test", force=True)
    return StandingOrder.objects.get(name="audit-opportunity-hygiene")


def proposed(title: str) -> Opportunity:
    ref = [{"type": "event", "id": record_event("note", "x").id}]
    fields = {"source_agent": "devops", "theme": "t", "why_now": "w", "evidence": ref}
    fields |= {"impact": 3, "confidence": 3, "urgency": 2, "reversibility": "high"}
    fields |= {"owner_candidate": "devops", "suggested_next_step": "s", "title": title}
    return propose_opportunity(fields).opportunity


def copies(template: Opportunity, n: int, title: str, status: str, days_ago: int) -> list:
    """`n` opportunities like `template` (added directly: a scout's daily budget is not what
    this is about), each titled `title` and its number."""
    template = Opportunity.objects.get(pk=template.pk)  # the caller's instance stays as it is
    template.status, template.created_at = status, db_now() - timedelta(days=days_ago)
    rows = []
    for i in range(n):
        template.pk, template.title = None, f"{title} {i}"
        rows.append(
            Opportunity(
                **{
                    f.attname: getattr(template, f.attname)
                    for f in Opportunity._meta.concrete_fields
                }
            )
        )
    return Opportunity.objects.bulk_create(rows)


def test_a_duplicate_and_a_stale_one_behind_the_oldest_500_are_flagged(order):
    copies(proposed("Seed"), 500, "Clean", "triaged", days_ago=1)
    first, twin = proposed("Same thing"), proposed("same thing ")
    [old] = copies(first, 1, "Old", "new", days_ago=8)

    run = run_order_now(order)

    twin.refresh_from_db(), old.refresh_from_db(), first.refresh_from_db()
    assert run.status == "completed"
    assert twin.status == "rejected" and twin.reviews.get().notes == f"duplicate of O{first.id}"
    assert old.status == "parked" and first.status == "new"


def test_more_findings_than_a_run_applies_are_a_recorded_cap_and_the_rest_come_next(
    order, monkeypatch
):
    monkeypatch.setattr(curation, "WINDOW", 2)
    stale = [proposed(f"Old {i}") for i in range(3)]
    Opportunity.objects.filter(pk__in=[o.pk for o in stale]).update(
        created_at=db_now() - timedelta(days=8)
    )

    run_order_now(order)

    capped = Event.objects.get(kind="sweep.capped")
    assert (
        capped.payload.items() >= {"loop": "opportunity_hygiene", "limit": 2, "waiting": 1}.items()
    )
    assert Opportunity.objects.filter(status="parked").count() == 2
    run_order_now(order)
    assert Opportunity.objects.filter(status="parked").count() == 3
