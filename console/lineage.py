"""Why did this happen? From any event, proposal, mission, step or memory, one walk up and
down its causes and effects, built from the links the ledger keeps:

cause (event → trigger rule or reaction, or conversation) → proposal → mission → steps →
attempts → artifacts and publications → the events they wrote → the proposals those events
caused → the memories that cite any of it. Every node has a time and an actor.
"""

from dataclasses import dataclass, field
from functools import reduce
from operator import or_

from django.db.models import Q
from django.urls import reverse

from memory.models import Memory
from missions.models import Artifact, Mission, Proposal, Publication, Reaction, Step, TriggerRule
from opportunities.models import Opportunity
from opscore.inputs import whole_number
from opscore.models import Event

UPSTREAM_LEVELS = 5  # a chain of causes is followed this far, and says where it stopped
KINDS = ["event", "proposal", "mission", "step", "memory", "opportunity"]


class LineageNotFound(LookupError):
    pass


@dataclass
class Node:
    kind: str
    id: int
    when: object
    actor: str
    text: str
    depth: int = 0
    children: list["Node"] = field(default_factory=list)

    @property
    def indent(self) -> int:
        """The CSS class step (depth-0..depth-12): deeper nodes share the last one."""
        return min(self.depth, 12)

    @property
    def url(self) -> str:
        return reverse("stage-lineage", args=[self.kind, self.id]) if self.kind in KINDS else ""


def event_node(event: Event, depth: int) -> Node:
    return Node(
        "event",
        event.id,
        event.created_at,
        event.actor or event.agent_id or "system",
        f"{event.kind}: {event.title}",
        depth,
    )


def proposal_of(kind: str, pk: int) -> tuple[Proposal | None, object]:
    """The proposal a thing belongs to (if any) and the thing itself."""
    models = {
        "event": Event,
        "proposal": Proposal,
        "mission": Mission,
        "step": Step,
        "memory": Memory,
        "opportunity": Opportunity,
    }
    if kind not in models:
        raise LineageNotFound(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    thing = models[kind].objects.filter(pk=pk).first()
    if thing is None:
        raise LineageNotFound(f"no {kind} {pk}")
    if kind == "proposal":
        return thing, thing
    if kind == "opportunity":
        return thing.proposal, thing
    if kind == "mission":
        return thing.proposal, thing
    if kind == "step":
        return thing.mission.proposal, thing
    if kind == "event":
        mission = thing.mission or (thing.step.mission if thing.step_id else None)
        return thing.proposal or (mission.proposal if mission else None), thing
    return None, thing


def causes(proposal: Proposal) -> list[Node]:
    """Up the chain: what made this proposal, and what made that, UPSTREAM_LEVELS deep."""
    chain, current = [], proposal
    for level in range(UPSTREAM_LEVELS):
        chain += cause_refs(current, level)
        event = current.cause_event
        if event is None:
            return chain
        chain.append(event_node(event, level))
        parent, _ = proposal_of("event", event.id)
        if parent is None or parent == current:
            return chain
        chain.append(proposal_node(parent, level))
        current = parent
    chain.append(Node("limit", 0, None, "", f"causes beyond {UPSTREAM_LEVELS} levels not shown"))
    return chain


def cause_refs(proposal: Proposal, depth: int) -> list[Node]:
    kind, _, raw = proposal.cause_ref.partition(":")
    pk = whole_number(raw)
    if pk is None or pk < 0:  # `stage:<username>`, `agentbus:<slug>`: a source, not a row
        return [Node("source", 0, proposal.created_at, "", f"source: {proposal.source}", depth)]
    if kind == "trigger_rule":
        rule = TriggerRule.objects.filter(pk=pk).first()
        text = f"trigger rule {rule.name} ({rule.trigger_event})" if rule else proposal.cause_ref
        return [Node("trigger", pk, proposal.created_at, "system:triggers", text, depth)]
    if kind == "opportunity":
        found = Opportunity.objects.filter(pk=pk).first()
        text = (
            f"opportunity O{found.id} {found.title} ({len(found.evidence)} evidence, "
            f"by {found.source_agent_id})"
            if found
            else proposal.cause_ref
        )
        return [Node("opportunity", pk, proposal.created_at, "system:proactive", text, depth)]
    if kind == "reaction":
        reaction = Reaction.objects.filter(pk=pk).first()
        text = (
            (
                f"reaction {reaction.pattern_key}: {reaction.reaction_type} by "
                f"{reaction.target_agent}"
            )
            if reaction
            else proposal.cause_ref
        )
        return [Node("reaction", pk, proposal.created_at, "system:reactions", text, depth)]
    return [Node(kind, pk, proposal.created_at, "", proposal.cause_ref, depth)]


def proposal_node(proposal: Proposal, depth: int) -> Node:
    text = f"P{proposal.id} {proposal.title} [{proposal.status}] ({proposal.source})"
    return Node("proposal", proposal.id, proposal.created_at, proposal.agent_id, text, depth)


def effects(proposal: Proposal) -> tuple[list[Node], list[dict]]:
    """Down the chain: the mission, its steps and all they produced. Also the evidence refs of
    every row on the way, for the memories that cite them."""
    mission = Mission.objects.filter(proposal=proposal).first()
    if mission is None:
        return [], [{"type": "event", "id": e.id} for e in proposal.events.all()]
    root = Node(
        "mission",
        mission.id,
        mission.created_at,
        mission.created_by,
        f"M{mission.id} {mission.title} [{mission.status}]",
        1,
    )
    refs: list[dict] = []
    for step in mission.steps.order_by("position", "id"):
        root.children.append(step_tree(step, refs))
    root.children += [event_tree(e, 2, refs) for e in mission.events.filter(step__isnull=True)]
    return [root], refs


def step_tree(step: Step, refs: list[dict]) -> Node:
    text = f"S{step.id} {step.kind} [{step.status}]"
    node = Node("step", step.id, step.created_at, step.agent_id, text, 2)
    refs.append({"type": "step", "id": step.id})
    node.children = [*attempt_nodes(step, refs), *product_nodes(step)]
    node.children += [event_tree(e, 3, refs) for e in step.events.order_by("id")]
    return node


def attempt_nodes(step: Step, refs: list[dict]) -> list[Node]:
    nodes = []
    for attempt in step.attempts.order_by("attempt_no"):
        refs.append({"type": "attempt", "id": attempt.id})
        text = f"attempt {attempt.attempt_no}: {attempt.outcome or 'running'}"
        text += f" — {attempt.error[:120]}" if attempt.error else ""
        nodes.append(Node("attempt", attempt.id, attempt.started_at, attempt.worker_id, text, 3))
    return nodes


def product_nodes(step: Step) -> list[Node]:
    """What the step made: artifacts, and publications through the outbox."""
    artifacts = [
        Node("artifact", a.id, a.created_at, step.agent_id, f"artifact {a.kind}: {a.title}", 3)
        for a in Artifact.objects.filter(step=step).order_by("id")
    ]
    publications = [
        Node("publication", p.id, p.created_at, step.agent_id, f"publication [{p.status}]", 3)
        for p in Publication.objects.filter(step=step).order_by("id")
    ]
    return artifacts + publications


def event_tree(event: Event, depth: int, refs: list[dict]) -> Node:
    refs.append({"type": "event", "id": event.id})
    node = event_node(event, depth)
    node.children = [proposal_node(p, depth + 1) for p in event.caused_proposals.order_by("id")]
    return node


def memory_node(memory: Memory) -> Node:
    text = f"{memory.type} [{memory.status}]: {memory.content[:120]}"
    return Node("memory", memory.id, memory.created_at, memory.created_by or memory.agent_id, text)


def memories_citing(refs: list[dict]) -> list[Node]:
    if not refs:
        return []
    cites = reduce(or_, (Q(evidence__contains=[ref]) for ref in refs[:500]))
    return [memory_node(m) for m in Memory.objects.filter(cites).order_by("id")[:50]]


def lineage(kind: str, pk: int) -> dict:
    """The page's data: the thing asked about, its causes, its effects, the memories learned."""
    proposal, thing = proposal_of(kind, pk)
    if proposal is None:  # an event with no proposal, or a memory: start from what it cites
        return orphan_lineage(kind, thing)
    down, refs = effects(proposal)
    return {
        "asked": f"{kind} {pk}",
        "causes": causes(proposal),
        "proposal": proposal_node(proposal, 0),
        "effects": down,
        "memories": memories_citing(refs),
    }


def opportunity_node(o: Opportunity) -> Node:
    text = f"O{o.id} {o.title} [{o.status}]"
    return Node("opportunity", o.id, o.created_at, o.source_agent_id, text)


def orphan_lineage(kind: str, thing) -> dict:
    if kind in ("memory", "opportunity"):  # both cite evidence rows: start from those
        steps = [r["id"] for r in thing.evidence if r.get("type") == "step"]
        events = [r["id"] for r in thing.evidence if r.get("type") == "event"]
        found = [
            *(step_tree(s, []) for s in Step.objects.filter(pk__in=steps)),
            *(event_tree(e, 1, []) for e in Event.objects.filter(pk__in=events)),
        ]
        return {
            "asked": f"{kind} {thing.id}",
            "causes": found,
            "proposal": None,
            "effects": [memory_node(thing) if kind == "memory" else opportunity_node(thing)],
            "memories": [],
        }
    refs: list[dict] = []
    tree = event_tree(thing, 0, refs)
    return {
        "asked": f"event {thing.id}",
        "causes": [],
        "proposal": None,
        "effects": [tree],
        "memories": memories_citing(refs),
    }


def flatten(nodes: list[Node], depth: int = 0) -> list[Node]:
    """Rows for a page: each node followed by its children, indented by depth."""
    rows = []
    for node in nodes:
        node.depth = depth
        rows.append(node)
        rows += flatten(node.children, depth + 1)
    return rows
