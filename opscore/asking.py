"""One question to the model, answered in a strict schema: the shape of every background job
that reads evidence and asks an agent about it (lessons distilled, scouts judging).

The agent's system prompt (voice and context sections), the instructions above the evidence as
JSON, the cheap tier, the deterministic answer used offline; the reply parsed against the schema
or refused with the reason. Written once so the jobs cannot drift apart in how they ask.
"""

import json
from dataclasses import dataclass

from opscore.inputs import MalformedReply
from opscore.llm import LLMRequest, call_llm, parse_llm_reply
from opscore.prompting import system_prompt


@dataclass(frozen=True)
class Question:
    """How a job asks: what the call serves (purpose, prompt version), how it answers."""

    purpose: str
    prompt_version: str
    instructions: str
    schema: type
    what: str
    temperature: float
    max_tokens: int
    error: type[Exception] = MalformedReply


def ask_json(question: Question, agent, topic: str, shown, offline: dict, links=None):
    """The parsed reply and the id of the LLMCall that gave it. `topic` steers the context
    providers (which memories the prompt carries); `shown` is the evidence, sent as JSON."""
    system, injected = system_prompt(agent, topic)
    request = LLMRequest(
        system=system,
        messages=[{"role": "user", "content": f"{question.instructions}\n\n{json.dumps(shown)}"}],
        temperature=question.temperature,
        max_tokens=question.max_tokens,
        tier="cheap",
        injected=injected,
        offline_hint={"json": offline},
    )
    reply = call_llm(
        request,
        agent=agent,
        purpose=question.purpose,
        prompt_version=question.prompt_version,
        links=links,
    )
    parsed = parse_llm_reply(reply, question.schema, question.what, question.error)
    return parsed, reply.call_id
