"""The agent bus for a remote caller holding an agent token (HTTP and MCP). A JSON object of
the verb's options (the CLI's names, snake_case) goes through the CLI's own parser, so
validation is the same; then the call is confined to the token's agent: it acts as that agent,
and names only that agent's jobs, runs, candidates, opportunities and ideas, and its dedupe keys
are that agent's own. Every known secret in what it sends is masked before anything else."""

import argparse
import json
from functools import cache

from django.core.management.base import CommandError
from django.db.models import Q

from console.agentbus_inputs import REMOTE, BadInput, Forbidden, NotFound, check_sizes
from console.agentbus_verbs import MAX_DEDUPE_KEY, run_verb
from missions.models import Step
from opscore.cli import decimal, whole
from opscore.inputs import EXPECTED, is_kind
from opscore.models import StandingOrderRun
from opscore.redaction import scrub
from opscore.registry import AGENTBUS_ACTORS, AGENTBUS_OWNED

# The option that says who acts: filled in from the token, refused if it names someone else
# (a lane's verbs: AGENTBUS_ACTORS, registered from its ready()).
ACTOR = {
    "enqueue-job": "source_agent",
    "emit-event": "source_agent",
    "claim-jobs": "target_agent",
    "start-standing-order": "agent_id",
}
JOB = Step.objects.values_list("agent_id", flat=True)
# The row a verb names, and how to find its agent; another agent's row is "not found" (a lane's
# verbs: AGENTBUS_OWNED).
OWNED = {
    "mark-running-job": ("job_id", "job", JOB),
    "renew-job-lease": ("job_id", "job", JOB),
    "complete-job": ("job_id", "job", JOB),
    "block-job": ("job_id", "job", JOB),
    "fail-job": ("job_id", "job", JOB),
    "finish-standing-order": (
        "run_id",
        "standing-order run",
        StandingOrderRun.objects.values_list("order__agent_id", flat=True),
    ),
}
NOT_REMOTE = {"requeue-expired": "Opscore's sweeper reaps expired leases every minute"}
JSON_VALUED = {"{}", "[]"}  # options taking JSON: an object or list may be given as is


@cache
def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    """The CLI's sub-parsers by verb, built once per process (argparse parsers keep no state)."""
    from console.management.commands.agentbus import Command

    parser = Command().create_parser("manage.py", "agentbus")
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for verb in verbs.choices.values():  # these copies serve remote callers only
        verb.exit_on_error = False  # ArgumentError reaches parse(), which knows its action
    return dict(verbs.choices)


def serve(agent: str, verb: str, data: dict) -> dict:
    """Run one verb for the token's agent; raises the agentbus_inputs errors."""
    parser = verb_parsers().get(verb)
    if parser is None:  # the name is what it sends too: masked, and cut short
        named = scrub(verb)[:100]
        callable_here = sorted(set(verb_parsers()) - set(NOT_REMOTE))
        raise NotFound(f"no agent-bus verb {named!r}", {"verb": callable_here})
    if verb in NOT_REMOTE:
        raise Forbidden(f"{verb} is not an agent's to call: {NOT_REMOTE[verb]}")
    data = act_as(agent, verb, scrub(dict(data)))
    opts = parse(parser, data)
    check_sizes(opts)
    confine(agent, verb, opts)
    own_dedupe_key(agent, opts)
    marker = REMOTE.set(True)
    try:
        return run_verb(verb, opts)
    finally:
        REMOTE.reset(marker)


def filled_in(verb: str) -> set[str]:
    """Options a remote caller may leave out: the token says who acts."""
    actor = actor_of(verb)
    names = {actor} if actor else set()
    return names | ({"lease_owner"} if verb == "claim-jobs" else set())


def actor_of(verb: str) -> str | None:
    return ACTOR.get(verb) or AGENTBUS_ACTORS.get(verb)


def act_as(agent: str, verb: str, data: dict) -> dict:
    """The acting agent filled in from the token. A null leaves an option out, as for every
    other option (as_argv): taken as a name, it answered 403 "not yours"."""
    name = actor_of(verb)
    if name is None:
        return data
    if data.get(name) is None:
        data[name] = agent
    if data[name] != agent:
        raise Forbidden(f"{name}: this token acts for {agent!r} only", {name: ["not yours"]})
    if verb == "claim-jobs" and data.get("lease_owner") is None:
        data["lease_owner"] = f"{agent}-runtime"
    return data


def confine(agent: str, verb: str, opts: dict) -> None:
    if verb == "enqueue-job":
        confine_dependencies(agent, opts["depends_on"])
    owned = OWNED.get(verb) or AGENTBUS_OWNED.get(verb)
    if owned is None:
        return
    key, noun, owners = owned
    if owners.filter(pk=opts[key]).first() != agent:
        raise NotFound(f"no {noun} {opts[key]}")


def own_dedupe_key(agent: str, opts: dict) -> None:
    """A dedupe key from outside is its agent's own: another agent's proposal, event, memory,
    opportunity or idea (or one Opscore keys itself, `opportunity:3`, `first-boot:…`) is
    never found, reported or taken through it. The same key from the same token is the same
    key, so a retry stays idempotent."""
    key = opts.get("dedupe_key")
    if not key:
        return
    prefix = f"agent:{agent}:"
    if len(prefix + key) > MAX_DEDUPE_KEY:
        limit = f"at most {MAX_DEDUPE_KEY - len(prefix)} characters with this token"
        raise BadInput(limit, option="dedupe_key")
    opts["dedupe_key"] = prefix + key


def confine_dependencies(agent: str, job_ids: list[int]) -> None:
    """A job may wait only on jobs this token could see: its agent's own, or ones it enqueued.
    Anything else is "not found", as everywhere, so depends_on cannot probe which ids exist."""
    mine = Q(agent_id=agent) | Q(mission__proposal__cause_ref=f"agentbus:{agent}")
    visible = set(Step.objects.filter(mine, pk__in=job_ids).values_list("pk", flat=True))
    for job_id in job_ids:
        if job_id not in visible:
            raise NotFound(f"no job {job_id}", {"depends_on": [f"no job {job_id}"]})


def verb_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The verb's own options. The CLI's copies of Django's flags on every verb (--settings,
    --pythonpath, --traceback, --verbosity …, default SUPPRESS: opscore.cli.add_verbs) are the
    command line's, not a remote caller's: over HTTP and MCP they are unknown options."""
    return [a for a in parser._actions if a.dest != "help" and a.default != argparse.SUPPRESS]


def parse(parser: argparse.ArgumentParser, data: dict) -> dict:
    """The JSON object as the CLI's argv, parsed by the CLI's parser."""
    actions = {a.dest: a for a in verb_actions(parser)}
    unknown = sorted(set(data) - set(actions))
    if unknown:
        raise BadInput(f"unknown options: {', '.join(unknown)}", {k: ["unknown"] for k in unknown})
    options, positionals = [], []
    for name, value in data.items():
        action = actions[name]
        (options if action.option_strings else positionals).extend(as_argv(action, value))
    # Before argparse, whose "the following arguments are required" names the CLI's --flags.
    missing = sorted(k for k, a in actions.items() if a.required and data.get(k) is None)
    if missing:
        raise BadInput(f"missing options: {', '.join(missing)}", {k: ["required"] for k in missing})
    try:
        # --name=value and positionals after "--": a value starting with "-" stays a value.
        return vars(parser.parse_args([*options, *(["--", *positionals] if positionals else [])]))
    except argparse.ArgumentError as error:  # "argument --decision: …" names the CLI's flag
        named = {argparse._get_action_name(a): name for name, a in actions.items()}
        raise BadInput(error.message, option=named.get(error.argument_name)) from None
    except CommandError as error:
        raise BadInput(f"bad arguments: {error}") from None


def as_argv(action: argparse.Action, value) -> list[str]:
    if value is None:
        return []
    if isinstance(action, argparse._StoreTrueAction):
        check_kind(action, value, bool)
        return [action.option_strings[0]] if value else []
    items = (
        value if isinstance(action, argparse._AppendAction) and isinstance(value, list) else [value]
    )
    argv = []
    for item in items:
        text = as_text(action, item)
        argv.append(f"{action.option_strings[0]}={text}" if action.option_strings else text)
    return argv


def takes_json(action: argparse.Action) -> bool:
    return isinstance(action.default, str) and action.default in JSON_VALUED


def as_text(action: argparse.Action, item) -> str:
    """One value as the CLI's text, if it is of the JSON kind its tool schema declares (an
    option taking JSON: an object, a list or its text). Turned into text whatever its kind, a
    number given for a topic became the topic "7", a list given for a title its JSON, and "5"
    given for a limit the integer 5."""
    if not takes_json(action):
        check_kind(action, item, json_kind(action))
    return item if isinstance(item, str) else json.dumps(item)


def json_kind(action: argparse.Action) -> type:
    """The JSON kind an option's value is: a number for the CLI's `whole` and `decimal` (ids,
    counts and seconds in ASCII digits) as for int and float, else text."""
    if action.type is whole:
        return int
    if action.type is decimal:
        return float
    return action.type if action.type in (int, float) else str


def check_kind(action: argparse.Action, value, kind: type) -> None:
    if not is_kind(value, kind):
        wanted = EXPECTED[kind]
        raise BadInput(f"{action.dest}: {wanted}", {action.dest: [wanted]})
