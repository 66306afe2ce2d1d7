"""The agentbus's proactive verbs, with seed 004's arguments: create and triage opportunities,
convert one through the intake, create, review and promote ideas. Every verb calls the lane's
actions, so budgets, evidence checks and transitions hold here as everywhere."""

from functools import partial

from memory.agentbus import check_namespace
from missions.agentbus import handed_over
from opportunities.actions import (
    DecisionRefused,
    OpportunityInvalid,
    convert_opportunity,
    create_idea,
    promote_idea,
    propose_opportunity,
    review_idea,
    triage,
)
from opportunities.models import Idea, Opportunity
from opscore.cli import whole
from opscore.models import Agent
from opscore.text import checked_reason

SCORES = range(1, 6)
REVERSIBILITY = ["high", "medium", "low"]


def add_scores(parser, required: bool) -> None:
    for name in ("--impact-score", "--confidence-score", "--urgency-score"):
        parser.add_argument(name, type=whole, choices=SCORES, required=required)
    parser.add_argument("--reversibility", choices=REVERSIBILITY, required=required)
    parser.add_argument("--owner-candidate")
    parser.add_argument("--suggested-next-step", required=required)
    parser.add_argument("--why-now", required=required)
    parser.add_argument("--evidence", default="[]", help="JSON list of {type, id}")


def add_opportunity_verbs(verbs) -> None:
    create = verbs.add_parser("create-opportunity", help="report an opportunity, scored")
    create.add_argument("--namespace", default="default")
    for name in ("--source-agent", "--theme", "--title"):
        create.add_argument(name, required=True)
    add_scores(create, required=True)
    create.add_argument("--cost-of-doing-nothing", default="")
    create.add_argument("--dedupe-key")
    decide = verbs.add_parser("triage-opportunity", help="triage, accept, reject or park one")
    decide.add_argument("--opportunity-id", type=whole, required=True)
    decide.add_argument("--reviewer", required=True)
    decide.add_argument(
        "--decision", required=True, choices=["triaged", "accepted", "rejected", "parked"]
    )
    decide.add_argument("--notes", default="")
    convert = verbs.add_parser("convert-opportunity", help="turn one into work")
    convert.add_argument("--opportunity-id", type=whole, required=True)
    convert.add_argument("--converted-by", required=True)
    convert.add_argument("--target-agent", required=True)
    convert.add_argument("--job-type", default="analyze")
    idea = verbs.add_parser("create-idea", help="note an idea, not yet an opportunity")
    idea.add_argument("--namespace", default="default")
    for name in ("--source-agent", "--theme", "--title", "--body"):
        idea.add_argument(name, required=True)
    idea.add_argument("--evidence", default="[]")
    idea.add_argument("--tags", default="[]")
    idea.add_argument("--dedupe-key")
    review = verbs.add_parser("review-idea", help="mark a new idea reviewed")
    review.add_argument("--idea-id", type=whole, required=True)
    promote = verbs.add_parser("promote-idea-to-opportunity", help="make an idea an opportunity")
    promote.add_argument("--idea-id", type=whole, required=True)
    promote.add_argument("--promoted-by", required=True)
    promote.add_argument("--theme")
    promote.add_argument("--title")
    add_scores(promote, required=True)


def opportunity_answers(json_arg, o: dict) -> dict:
    return {
        "why_now": o["why_now"],
        "evidence": json_arg(o["evidence"], "evidence"),
        "impact": o["impact_score"],
        "confidence": o["confidence_score"],
        "urgency": o["urgency_score"],
        "reversibility": o["reversibility"],
        "owner_candidate": o["owner_candidate"],
        "suggested_next_step": o["suggested_next_step"],
    }


def run(verb: str, json_arg, bad_input, o: dict) -> dict:
    try:
        return VERBS[verb](json_arg, bad_input, o)
    except OpportunityInvalid as invalid:
        raise bad_input("invalid opportunity or idea", invalid.errors) from None
    except DecisionRefused as refused:
        raise bad_input(str(refused)) from None


def written_by(agent: str) -> str:
    """What a runtime sends through the bus is its own text (an injected page may have written
    it): work made from it later, by whoever converts it, waits for a person."""
    return f"written by {agent}'s runtime through the agent bus"


def create_opportunity(json_arg, bad_input, o) -> dict:
    check_namespace(bad_input, o["namespace"])
    data = opportunity_answers(json_arg, o) | {
        "source_agent": o["source_agent"],
        "theme": o["theme"],
        "title": o["title"],
        "cost_of_doing_nothing": o["cost_of_doing_nothing"],
        "dedupe_key": o["dedupe_key"],
    }
    return propose_opportunity(data, untrusted=written_by(o["source_agent"])).as_json()


def found(model, pk: int, bad_input):
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise bad_input(f"no {model._meta.verbose_name} {pk}")
    return row


def triage_opportunity(json_arg, bad_input, o) -> dict:
    notes = checked_reason(o["notes"], what="notes", field="notes")  # why it decided so
    opportunity = found(Opportunity, o["opportunity_id"], bad_input)
    review = triage(opportunity, o["decision"], reviewer=o["reviewer"], notes=notes)
    return {"opportunity_id": opportunity.id, "status": review.decision, "review_id": review.id}


def convert(json_arg, bad_input, o) -> dict:
    """A runtime's conversion follows `enqueue-job`'s rule: for another agent it is handed
    over (untrusted, paid for by the runtime's agent); for its own it is still the runtime's
    text, so it waits for a person too (opportunities written before they were marked)."""
    opportunity = found(Opportunity, o["opportunity_id"], bad_input)
    converter, target = o["converted_by"], o["target_agent"]
    handed = handed_over(converter, target)
    done = convert_opportunity(
        opportunity,
        converted_by=converter,
        target_agent=target,
        kind=o["job_type"],
        untrusted=handed or f"converted by {converter}'s runtime through the agent bus",
        handed_by=Agent.objects.filter(slug=converter).first() if handed else None,
    )
    return {"opportunity_id": done.id, "status": done.status, "proposal_id": done.proposal_id}


def new_idea(json_arg, bad_input, o) -> dict:
    check_namespace(bad_input, o["namespace"])
    data = {k: o[k] for k in ("source_agent", "theme", "title", "body", "dedupe_key")}
    data |= {"evidence": json_arg(o["evidence"], "evidence"), "tags": json_arg(o["tags"], "tags")}
    idea = create_idea(data, untrusted=written_by(o["source_agent"]))
    return {"idea_id": idea.id, "status": idea.status}


def reviewed(json_arg, bad_input, o) -> dict:
    idea = review_idea(found(Idea, o["idea_id"], bad_input))
    return {"idea_id": idea.id, "status": idea.status}


def promoted(json_arg, bad_input, o) -> dict:
    idea = found(Idea, o["idea_id"], bad_input)
    data = opportunity_answers(json_arg, o) | {"theme": o["theme"], "title": o["title"]}
    why = written_by(o["promoted_by"])
    opportunity = promote_idea(idea, data, promoted_by=o["promoted_by"], untrusted=why)
    return {"idea_id": idea.id, "opportunity_id": opportunity.id, "status": opportunity.status}


VERBS = {
    "create-opportunity": create_opportunity,
    "triage-opportunity": triage_opportunity,
    "convert-opportunity": convert,
    "create-idea": new_idea,
    "review-idea": reviewed,
    "promote-idea-to-opportunity": promoted,
}
# what the bus registers: each verb answered through `run`, which turns refusals into bad input
RUNS = {verb: partial(run, verb) for verb in VERBS}
# A remote caller acts as its token's agent, and names only the opportunities and ideas it found.
ACTORS = {
    "create-opportunity": "source_agent",
    "triage-opportunity": "reviewer",
    "convert-opportunity": "converted_by",
    "create-idea": "source_agent",
    "promote-idea-to-opportunity": "promoted_by",
}
OPPORTUNITY_OWNER = Opportunity.objects.values_list("source_agent_id", flat=True)
IDEA_OWNER = Idea.objects.values_list("source_agent_id", flat=True)
OWNED = {
    "triage-opportunity": ("opportunity_id", "opportunity", OPPORTUNITY_OWNER),
    "convert-opportunity": ("opportunity_id", "opportunity", OPPORTUNITY_OWNER),
    "review-idea": ("idea_id", "idea", IDEA_OWNER),
    "promote-idea-to-opportunity": ("idea_id", "idea", IDEA_OWNER),
}
