"""The step kinds Opscore ships. A proposal naming a kind nobody registered is refused at the
intake; `MissionsConfig.ready()` registers these, a plug-in module may add its own."""

from opscore.registry import StepKind
from opscore.registry import is_known_kind as is_known
from opscore.registry import known_kind_names as known_names

BUILTIN = [
    StepKind("analyze", "LLM analysis that stores an artifact"),
    StepKind("write_content", "LLM long-form writing that stores an artifact"),
    StepKind("draft_tweet", "LLM tweet draft that stores an artifact"),
    StepKind("crawl", "Fetch a public URL and keep its main text"),
    StepKind("post_tweet", "Publish through the outbox", idempotent=False),
    StepKind("deploy", "Deploy a change", idempotent=False, auto_approvable=False),
    StepKind("noop", "Does nothing and succeeds; proves the machinery"),
]

__all__ = ["BUILTIN", "StepKind", "is_known", "known_names"]
