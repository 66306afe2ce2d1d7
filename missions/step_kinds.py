"""The step kinds Opscore knows. A proposal naming any other kind is refused at the intake.

`idempotent` decides the rescue policy when a worker is lost mid-run: idempotent kinds are
retried, the others (anything with an outside effect) wait for a human.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class StepKind:
    name: str
    description: str
    idempotent: bool = True
    auto_approvable: bool = True


STEP_KINDS: dict[str, StepKind] = {
    kind.name: kind
    for kind in [
        StepKind("analyze", "LLM analysis that stores an artifact"),
        StepKind("write_content", "LLM long-form writing that stores an artifact"),
        StepKind("draft_tweet", "LLM tweet draft that stores an artifact"),
        StepKind("crawl", "Fetch a public URL and keep its main text"),
        StepKind("post_tweet", "Publish through the outbox", idempotent=False),
        StepKind("deploy", "Deploy a change", idempotent=False, auto_approvable=False),
        StepKind("noop", "Does nothing and succeeds; proves the machinery"),
    ]
}


def is_known(name: str) -> bool:
    return name in STEP_KINDS


def known_names() -> list[str]:
    return sorted(STEP_KINDS)
