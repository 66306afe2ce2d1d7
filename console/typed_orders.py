"""What a generic standing order may answer, and how each answer changes state.

The seed's rule: evidence → a typed result → a state change or silence. A generic order (the
phase-2 operational ones) shows its agent the rows its precondition found and asks for exactly
one of five results, each with its schema and the handler that applies it:

- `no_work` with a reason: the run is `no_work` and nothing else happens;
- `finding`: a titled summary citing rows from the evidence → a `finding` artifact on the run;
- `proposal`: work through the single intake (the run closes when that mission ends);
- `memory_candidate`: a candidate for the memory gate;
- `opportunity`: through `propose_opportunity` (over budget it is kept as an idea).

A reply that fits no schema, or cites a row that was not in the evidence, fails the run with the
reason. Every run's evidence says what was checked (precondition, since, rows found).
"""

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from memory.actions import CandidateInvalid, propose_candidate
from memory.evidence import untrusted_reason
from missions.actions import submit_proposal
from missions.models import Artifact, Mission, ProposalSource, ProposalStatus, Provenance
from missions.schemas import ProposalInvalid
from opportunities.actions import OpportunityInvalid, propose_opportunity
from opscore.actions import record_event
from opscore.llm import LLMError, LLMRequest, OverBudget, call_llm, parse_llm_reply
from opscore.models import RunStatus
from opscore.prompting import system_prompt
from opscore.standing_orders import RunResult

Cited = Annotated[list[dict], Field(min_length=1, max_length=20)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoWork(Strict):
    result: Literal["no_work"]
    reason: str = Field(min_length=3, max_length=500)


class Finding(Strict):
    result: Literal["finding"]
    title: str = Field(min_length=3, max_length=200)
    summary: str = Field(min_length=3, max_length=2000)
    evidence: Cited


class StepAsked(Strict):
    kind: str = Field(min_length=1, max_length=64)
    payload: dict = Field(default_factory=dict)


class ProposalAsked(Strict):
    result: Literal["proposal"]
    title: str = Field(min_length=3, max_length=200)
    steps: list[StepAsked] = Field(min_length=1, max_length=5)
    evidence: Cited


class CandidateAsked(Strict):
    result: Literal["memory_candidate"]
    kind: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=3, max_length=200)
    body: str = Field(min_length=3, max_length=2000)
    confidence: float = Field(ge=0, le=1)
    evidence: Cited


class OpportunityAsked(Strict):
    result: Literal["opportunity"]
    theme: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=3, max_length=200)
    why_now: str = Field(min_length=3, max_length=2000)
    impact: int = Field(ge=1, le=5)
    confidence: int = Field(ge=1, le=5)
    urgency: int = Field(ge=1, le=5)
    reversibility: Literal["high", "medium", "low"]
    suggested_next_step: str = Field(min_length=3, max_length=2000)
    evidence: Cited


Answer = NoWork | Finding | ProposalAsked | CandidateAsked | OpportunityAsked


class OrderReply(RootModel[Annotated[Answer, Field(discriminator="result")]]):
    pass


INSTRUCTIONS = (
    "Below are the rows your standing order found. Answer with exactly ONE JSON object, no "
    'prose: {"result": "no_work", "reason"} when nothing needs doing; {"result": "finding", '
    '"title", "summary", "evidence": [{"type", "id"}]}; {"result": "proposal", "title", '
    '"steps": [{"kind", "payload"}], "evidence"}; {"result": "memory_candidate", "kind": '
    'fact|lesson|pattern|preference|strategy, "title", "body", "confidence": 0-1, "evidence"}; '
    'or {"result": "opportunity", "theme", "title", "why_now", "impact": 1-5, "confidence": '
    '1-5, "urgency": 1-5, "reversibility": high|medium|low, "suggested_next_step", "evidence"}. '
    "Cite only rows listed below."
)


def offline_answer(order, rows: list[dict]) -> dict:
    """Offline: a finding that lists what the precondition found, citing those rows."""
    lines = "\n".join(f"- {r['type']} {r['id']}: {r.get('text', '')}" for r in rows)
    return {
        "result": "finding",
        "title": f"{order.name}: {len(rows)} row(s) to look at",
        "summary": lines[:2000],
        "evidence": [{"type": r["type"], "id": r["id"]} for r in rows[:20]],
    }


def ask(order, run, rows: list[dict], since) -> tuple[Answer, str]:
    """The model's typed answer, and which provider gave it (offline: stand-in words)."""
    system, injected = system_prompt(order.agent, order.instructions or order.name)
    shown = {"instructions": order.instructions, "since": since.isoformat(), "rows": rows}
    request = LLMRequest(
        system=system,
        messages=[{"role": "user", "content": f"{INSTRUCTIONS}\n\n{json.dumps(shown)}"}],
        temperature=0.2,
        max_tokens=900,
        tier="cheap",
        injected=injected,
        offline_hint={"json": offline_answer(order, rows)},
    )
    served = {"standing_order_run": run.id}
    reply = call_llm(
        request, agent=order.agent, purpose="order.typed", prompt_version="order.v1", links=served
    )
    return parse_llm_reply(reply, OrderReply, "standing order").root, reply.provider


def typed_result(order, run, rows: list[dict], since, checked: dict) -> RunResult:
    """One model call, one typed answer, one handler; anything else fails with the reason."""
    try:
        answer, provider = ask(order, run, rows, since)
    except (LLMError, OverBudget, ValueError) as problem:
        return RunResult(RunStatus.FAILED, str(problem)[:500], {"checked": checked})
    evidence = {"checked": checked, "result": answer.result, "provider": provider}
    shown = {(r["type"], r["id"]) for r in rows}
    cited = [(ref.get("type"), ref.get("id")) for ref in getattr(answer, "evidence", [])]
    outside = [ref for ref in cited if ref not in shown]
    if outside:
        why = f"the {answer.result} cites rows that were not in its evidence: {outside[:5]}"
        return RunResult(RunStatus.FAILED, why, evidence)
    evidence["evidence_ids"] = [f"{t}:{i}" for t, i in cited]
    read = untrusted_reason(rows, how=f"{order.name} read")
    if read:  # which rows it cites is the model's choice, and the text it read may make it
        evidence["untrusted"] = read
    return APPLY[answer.result](order, run, answer, evidence)


def apply_no_work(order, run, answer: NoWork, evidence: dict) -> RunResult:
    return RunResult(RunStatus.NO_WORK, f"looked: {answer.reason}", evidence)


def apply_finding(order, run, answer: Finding, evidence: dict) -> RunResult:
    untrusted = evidence.get("untrusted", "")
    artifact = Artifact.objects.create(
        kind="finding",
        title=answer.title,
        body=answer.summary,
        metadata={
            "evidence": answer.evidence,
            "order": order.name,
            "provider": evidence["provider"],
        },
        standing_order_run=run,
        provenance=Provenance.UNTRUSTED if untrusted else Provenance.TRUSTED,
    )
    record_event(
        "standing_order.finding",
        f"{order.agent_id}: {answer.title}",
        summary=answer.summary[:500],
        tags=["standing_order", "finding", order.name],
        payload={"artifact_id": artifact.id, "evidence": answer.evidence}
        | ({"untrusted": untrusted} if untrusted else {}),
        agent_id=order.agent_id,
        actor=f"agent:{order.agent_id}",
    )
    return RunResult(RunStatus.COMPLETED, answer.title, evidence | {"artifact_id": artifact.id})


def apply_proposal(order, run, answer: ProposalAsked, evidence: dict) -> RunResult:
    data = {
        "agent": order.agent_id,
        "title": answer.title,
        "steps": [step.model_dump() for step in answer.steps],
        "dedupe_key": f"standing_order_run:{run.id}",
    }
    try:
        proposal = submit_proposal(
            data,
            source=ProposalSource.TRIGGER,
            cause_ref=f"standing_order_run:{run.id}",
            untrusted_reason=evidence.get("untrusted", ""),
        ).proposal
    except ProposalInvalid as invalid:
        return RunResult(RunStatus.FAILED, f"the proposal was refused: {invalid}"[:500], evidence)
    evidence["proposal_id"] = proposal.id
    if proposal.status == ProposalStatus.REJECTED:
        return RunResult(RunStatus.BLOCKED, proposal.reason, evidence)
    if proposal.status == ProposalStatus.PENDING:
        return RunResult(RunStatus.BLOCKED, f"P{proposal.id} awaits a human decision", evidence)
    mission = Mission.objects.get(proposal=proposal)
    return RunResult(RunStatus.STARTED, f"working on M{mission.id}", evidence, mission)


def apply_candidate(order, run, answer: CandidateAsked, evidence: dict) -> RunResult:
    """Active memories' dedupe keys are one namespace for every agent, and order names are
    unique per agent only: the key names the agent too, or a second agent's order of the same
    name learning the same thing is refused for the first agent's memory."""
    data = answer.model_dump(exclude={"result"}) | {
        "agent": order.agent_id,
        "dedupe_key": f"{order.agent_id}/{order.name}:{answer.title}"[:200],
        "source_ref": f"standing_order_run:{run.id}",
    }
    try:
        candidate, _ = propose_candidate(data, untrusted_reason=evidence.get("untrusted", ""))
    except CandidateInvalid as invalid:
        return RunResult(RunStatus.FAILED, f"memory candidate refused: {invalid}"[:500], evidence)
    summary = f"memory candidate {candidate.id}: {answer.title}"
    return RunResult(RunStatus.COMPLETED, summary, evidence | {"candidate_id": candidate.id})


def apply_opportunity(order, run, answer: OpportunityAsked, evidence: dict) -> RunResult:
    data = answer.model_dump(exclude={"result"}) | {
        "source_agent": order.agent_id,
        "owner_candidate": order.agent_id,
        "dedupe_key": f"{order.name}:{answer.title}"[:200],
    }
    try:
        made = propose_opportunity(data, untrusted=evidence.get("untrusted", ""))
    except OpportunityInvalid as invalid:
        return RunResult(RunStatus.FAILED, f"opportunity refused: {invalid}"[:500], evidence)
    if made.opportunity is None:
        kept = {"idea_id": made.idea.id, "kept_because": made.kept_because}
        return RunResult(
            RunStatus.COMPLETED, f"kept as an idea: {made.kept_because}", evidence | kept
        )
    made_id = {"opportunity_id": made.opportunity.id}
    return RunResult(RunStatus.COMPLETED, f"opportunity: {answer.title}", evidence | made_id)


APPLY = {
    "no_work": apply_no_work,
    "finding": apply_finding,
    "proposal": apply_proposal,
    "memory_candidate": apply_candidate,
    "opportunity": apply_opportunity,
}
