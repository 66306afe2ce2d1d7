"""Prompts for LLM steps: the agent's voice, the step's payload, and a version we record.

Bump a version whenever its template changes, so an LLMCall row always says which prompt made it.
"""

import json

from opscore.llm import LLMRequest
from opscore.prompting import system_prompt

TEMPLATES = {
    "analyze": (
        "analyze.v2",
        "main",
        0.4,
        "Analyse the following and report what you observe, what it means and what to do next."
        " Be concrete and brief.",
    ),
    "write_content": (
        "write_content.v2",
        "main",
        0.8,
        "Write the piece described below. Plain text, no markup, at most 300 words.",
    ),
    "draft_tweet": (
        "draft_tweet.v2",
        "cheap",
        0.9,
        "Draft one tweet about the topic below. Plain text, at most 280 characters, no hashtags"
        " spam, no links unless given.",
    ),
}


def describe_payload(payload: dict) -> str:
    if not payload:
        return "(no details were given)"
    if set(payload) <= {"topic", "instructions", "text"}:
        return "\n".join(f"{key}: {value}" for key, value in payload.items())
    return json.dumps(payload, indent=2, sort_keys=True)[:4000]


# The payload fields that say what a step is about, most telling first.
ABOUT = ("title", "topic", "subject", "subject_key", "service", "project", "instructions", "text")


def step_about(step) -> str:
    """What memory retrieval searches by: the mission's title and the payload's telling fields
    — never its JSON envelope (keys, ids, timestamps, cited evidence). A payload with none of
    those fields offers its top-level text values, in key order."""
    payload = step.payload if isinstance(step.payload, dict) else {}
    texts = [payload[key] for key in ABOUT if isinstance(payload.get(key), str)]
    if not texts:
        texts = [payload[key] for key in sorted(payload) if isinstance(payload[key], str)]
    return "\n".join([step.mission.title, *texts])[:4000]


def notes_for(step) -> tuple[str, list[int]]:
    """What an operator sent the mission (`manage.py mission note`): its next prompt sees it;
    and the ids of the note events it carries (untrusted text, as a remark is)."""
    from missions.mission_control import latest_notes, note_line

    notes = latest_notes(step.mission_id)
    if not notes:
        return "", []
    lines = "\n".join(f"- {note_line(n)}" for n in notes)
    return "\n\nNotes from the operator on this mission:\n" + lines, [n.id for n in notes]


ASK = (
    "\n\nIf you cannot do this well without the operator, reply with one line that starts"
    " 'QUESTION:' and your question; the step waits for their answer."
)


def talk_for(step) -> tuple[str, list[int]]:
    """The mission's thread (remarks, this step's questions and answers) and how to ask; the
    ids of the thread text it carries."""
    from missions.threads import thread_notes

    notes, heard = thread_notes(step)
    return (notes if "You asked the operator" in notes else notes + ASK), heard


def build_request(step) -> tuple[LLMRequest, str]:
    version, tier, temperature, task = TEMPLATES[step.kind]
    details = describe_payload(step.payload)
    system, injected = system_prompt(step.agent, step_about(step))
    talk, heard = talk_for(step)
    notes, noted = notes_for(step)
    if heard:  # untrusted text: what the step writes answers for it (missions.provenance)
        injected |= {"thread_comment_ids": heard}
    if noted:  # the same for a note, whoever typed it
        injected |= {"mission_note_ids": noted}
    request = LLMRequest(
        system=system,
        messages=[{"role": "user", "content": f"{task}\n\n{details}{notes}{talk}"}],
        temperature=temperature,
        max_tokens=600,
        tier=tier,
        injected=injected,
    )
    return request, version
