import factory
from django.contrib.auth import get_user_model

from missions.actions import submit_proposal
from missions.models import ProposalSource
from opscore.models import Agent


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"agent-{n}")
    display_name = factory.LazyAttribute(lambda o: o.slug.title())
    role = "tester"
    enabled = True


class OperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = "operator"
    is_staff = True
    is_superuser = True
    password = factory.django.Password("correct-horse-battery")


# What a kind needs to pass the intake (the registry's required payload fields)
NEEDS = {"crawl": {"url": "https://example.com/"}, "post_tweet": {"text": "Hello from the tests"}}


def propose(agent, *kinds, source=ProposalSource.API, **extra):
    """Submit through the real intake; returns the stored proposal."""
    data = {"agent": agent.slug, "title": extra.pop("title", "Do the thing")}
    data["steps"] = [{"kind": k, "payload": NEEDS.get(k, {})} for k in kinds or ("analyze",)]
    return submit_proposal(data | extra, source=source).proposal


def make_step(kind="noop", agent=None, payload=None, **fields):
    """A queued step in an accepted mission, made directly (executor tests, not intake tests)."""
    from missions.models import Mission, Proposal, Step

    agent = agent or AgentFactory(slug="devops", max_concurrent_steps=10)
    proposal = Proposal.objects.create(
        agent=agent,
        title=f"{kind} work",
        source="api",
        status="accepted",
        proposed_steps=[{"kind": kind}],
    )
    mission = Mission.objects.create(
        title=proposal.title, agent=agent, created_by="test", proposal=proposal
    )
    return Step.objects.create(
        mission=mission, kind=kind, agent=agent, payload=payload or {}, **fields
    )


def ran_then_lost(worker_id: str = "w1"):
    """Claim the next step and run it, then lose the worker before its answer is kept: its
    lease runs out and is reaped. Returns the step as it was claimed."""
    from datetime import timedelta

    from django.db.models.functions import Now

    from missions.execution import claim_next_step
    from missions.models import Step
    from missions.recovery import reap_expired_leases
    from missions.worker import run_step

    claimed = claim_next_step(worker_id)
    run_step(claimed, worker_id)
    Step.objects.filter(pk=claimed.pk).update(lease_expires_at=Now() - timedelta(seconds=1))
    reap_expired_leases()
    return claimed


def make_draft(words: str, agent=None):
    """A draft_tweet step that wrote `words` (a post waiting on it would post them)."""
    from missions.models import Artifact

    agent = agent or AgentFactory(slug="publisher")
    draft = make_step("draft_tweet", agent=agent, status="succeeded")
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body=words)
    return draft


def make_approver(name: str, staff: bool = False):
    """A person who may approve proposals (and the words their posts would post)."""
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(name, password="x", is_staff=staff)
    user.user_permissions.add(Permission.objects.get(codename="approve_proposal"))
    return user


def make_memories(agent, kind, n, tags=(), confidence="0.80", content="noted"):
    """`n` active memories of one kind, each citing a real event."""
    from decimal import Decimal

    from memory.models import Memory
    from opscore.actions import record_event

    event = record_event("step.succeeded", "x", agent=agent)
    for i in range(n):
        Memory.objects.create(
            agent=agent,
            type=kind,
            content=f"{content} {i}",
            title=f"{content} {i}",
            confidence=Decimal(confidence),
            tags=list(tags),
            evidence=[{"type": "event", "id": event.id}],
            source_trace_id=f"{agent.slug}:{kind}:{content}:{i}:{tags}",
        )


def make_post(agent, body: str = "Hello") -> "Publication":  # noqa: F821
    """A post of `agent`'s that went out (its external id `x-<step>`), not yet measured."""
    from missions.models import OutboxMessage, Publication

    step = make_step("post_tweet", agent=agent, status="succeeded")
    outbox = OutboxMessage.objects.create(key=f"post:{step.id}", step=step, channel="x")
    return Publication.objects.create(
        step=step,
        outbox=outbox,
        channel="x",
        body=body,
        status="published",
        external_id=f"x-{step.id}",
        published_at=step.created_at,
    )


def make_opportunity(agent, **fields):
    """An open opportunity `agent` found, written directly (no intake, no event)."""
    from opportunities.models import Opportunity

    scores = dict.fromkeys(["impact", "confidence", "urgency"], 3)
    required = {"theme": "ops", "title": "Exports stall", "why_now": "nightly"}
    required |= {"reversibility": "high", "suggested_next_step": "move it"}
    return Opportunity.objects.create(source_agent=agent, **scores | required | fields)


def make_publication(agent, body: str, impressions: int, engagements: int):
    """A published post of `agent`'s with one measurement, recorded through the metrics
    boundary the CLI and API use."""
    from missions.metrics import record_metric

    post = make_post(agent, body)
    record_metric(
        {"post_ref": post.external_id, "impressions": impressions, "engagements": engagements}
    )
    return post


def run_order_now(order):
    """Run a standing order now, as `manage.py run_order` does."""
    from opscore.db import db_now
    from opscore.standing_orders import execute_run, start_run

    return execute_run(start_run(order, db_now()))


def shown_digest(client, proposal) -> str:
    """The digest the Stage's approval card for `proposal` carries back with its Approve
    button, as `client`'s user sees it ('' when the card carries none)."""
    page = client.get("/stage/approvals").content.decode()
    card = page[page.find(f'id="approval-{proposal.id}"') :]
    marker = 'name="digest" value="'
    at = card.find(marker)
    return card[at + len(marker) : at + len(marker) + 64] if at >= 0 else ""


def crawled_page(agent, body: str):
    """A crawled page as the crawl executor stores it: an untrusted artifact of a finished crawl
    step, from a site nobody vouches for."""
    from missions.models import Artifact

    return Artifact.objects.create(
        step=make_step("crawl", agent=agent, status="succeeded"),
        kind="crawl",
        title="A page",
        body=body,
        provenance="untrusted",
        source_url="https://evil.example/page",
    )


def held_post(words="hello"):
    """A post held for a person's word on its draft's `words` (missions.words): the draft a
    step of its own that succeeded with them, the post run once by a worker and blocked."""
    from missions.models import Artifact
    from missions.worker import handle_one_step

    publisher = AgentFactory(slug="publisher")
    draft = make_step("draft_tweet", agent=publisher, status="succeeded")
    Artifact.objects.create(step=draft, kind="draft_tweet", title="t", body=words)
    post = make_step("post_tweet", agent=publisher)
    post.depends_on.add(draft)
    handle_one_step("w1")
    post.refresh_from_db()
    assert post.blocked_code == "words_approval"
    return post


API_TOKEN = "tok-123456789" * 3


def api_propose(client, settings, body):
    """POST `body` to /api/ops/proposals as the API's token holder; the response."""
    settings.OPS_API_TOKEN = API_TOKEN
    return client.post(
        "/api/ops/proposals",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
