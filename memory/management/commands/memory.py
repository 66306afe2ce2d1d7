"""`manage.py memory …`: what prompts would get, the candidate queue, and the operator's calls."""

from memory.decisions import (
    DecisionRefused,
    RejectReason,
    mark_stale,
    merge_candidate_into,
    reject_candidate,
    supersede_memory,
)
from memory.embeddings import EmbeddingError, embed_pending
from memory.gate import review_candidate
from memory.models import CandidateStatus, MemoryCandidate
from memory.retrieval import quoted, retrieve
from missions.text import row_line
from opscore.cli import OpsCommand, add_verbs, dump, fail, whole
from opscore.models import Agent
from opscore.overrides import OverrideRefused, apply_override, in_force, lift_override

CLI = "operator:cli"
SHOWN = 200  # candidates listed at once, oldest first
DECIDED = {
    "promote": "review a candidate through the gate now",
    "reject": "refuse a candidate, saying what was wrong with it",
    "stale": "retire a memory no longer true",
    "merge": "fold a candidate into a memory that says it already",
    "supersede": "retire a memory in favour of a newer one",
}


class Command(OpsCommand):
    help = "Search memories as a prompt would, review candidates, mark stale, freeze promotions."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        verbs = add_verbs(parser)
        search = verbs.add_parser("search", help="the memories a prompt of this agent's would get")
        search.add_argument("--agent", required=True)
        search.add_argument("--query", default="")
        search.add_argument("--subject", action="append", default=[])
        candidates = verbs.add_parser("candidates", help="memory candidates waiting (or --status)")
        candidates.add_argument("--status", default="new", choices=CandidateStatus.values)
        verbs.add_parser("promote", help=DECIDED["promote"]).add_argument("id", type=whole)
        for name in ("reject", "stale", "merge", "supersede"):
            verb = verbs.add_parser(name, help=DECIDED[name])
            verb.add_argument("id", type=whole)
            verb.add_argument("--reason", required=True)
        verbs.choices["reject"].add_argument(
            "--kind", default="other", choices=RejectReason.values, help="what was wrong with it"
        )
        verbs.choices["merge"].add_argument("--into", type=whole, required=True, help="memory id")
        verbs.choices["supersede"].add_argument("--by", type=whole, required=True, help="memory id")
        verbs.add_parser("embed", help="give active memories without a vector one")
        freeze = verbs.add_parser("freeze", help="stop (on) or allow (off) every promotion")
        freeze.add_argument("state", choices=["on", "off"])
        freeze.add_argument("--reason", required=True)

    def handle(self, *args, verb, **opts):
        self.as_json = opts.pop("json")
        body = getattr(self, verb)(**opts)
        self.stdout.write(dump(body) if self.as_json else self.readable(body))

    def readable(self, body) -> str:
        if isinstance(body, list):
            return "\n".join(self.line(row) for row in body) or "(none)"
        return "\n".join(f"{k}: {v}" for k, v in body.items())

    @staticmethod
    def line(row: dict) -> str:
        """One row, one line: a memory's or a candidate's line breaks (its words may be a crawled
        page's) would start lines that read as more rows, as in a prompt (retrieval.quoted)."""
        if "bucket" in row:
            head = f"[{row['bucket']}] memory {row['id']} ({row['kind']}, {row['score']})"
            return f"{head}: {quoted(row['text'])}"
        line = f"candidate {row['id']} {row['kind']} by {row['agent']}: {row_line(row['title'])}"
        # a person is who promotes these: the reason is what they need to see first
        return f"{line} (untrusted: {row['untrusted_reason']})" if row["untrusted_reason"] else line

    def search(self, agent, query, subject, **_):
        if not Agent.objects.filter(slug=agent).exists():
            fail(f"unknown agent {agent!r}", as_json=self.as_json, code=2)
        return [r.as_json() for r in retrieve(agent, query, subject)]

    def candidates(self, status, **_):
        """The oldest SHOWN; past them, a line on stderr says how many more wait (stdout stays
        the list a script reads)."""
        found = MemoryCandidate.objects.filter(status=status)
        rows = list(found.order_by("id")[:SHOWN])
        if len(rows) == SHOWN and (total := found.count()) > SHOWN:
            left = (
                f"the oldest {SHOWN} of {total} {status} candidates shown: decide them to see more"
            )
            self.stderr.write(left)
        return [
            {
                "id": c.id,
                "kind": c.kind,
                "agent": c.source_agent_id,
                "title": c.title,
                "confidence": float(c.confidence),
                "evidence": c.evidence,
                "status": c.status,
                "untrusted_reason": c.untrusted_reason,
            }
            for c in rows
        ]

    def _candidate(self, pk):
        found = MemoryCandidate.objects.filter(pk=pk, status=CandidateStatus.NEW).first()
        if found is None:
            fail(f"no open candidate {pk}", as_json=self.as_json, code=2)
        return found

    def promote(self, id, **_):
        review = review_candidate(self._candidate(id).id, reviewer=CLI)
        if review is None:  # another reviewer holds it (the gate's pass, a curator)
            said = f"candidate {id} is being decided by another reviewer; nothing was done"
            fail(said, as_json=self.as_json, code=2)
        return {
            "candidate": id,
            "decision": review.decision,
            "reason": review.reason,
            "memory": review.memory_id,
        }

    def decide(self, decision, *args, **kwargs):
        try:
            review = decision(*args, **kwargs)
        except DecisionRefused as refused:
            fail(str(refused), as_json=self.as_json, code=2)
        return {
            "decision": review.decision,
            "reason": review.reason,
            "candidate": review.candidate_id,
            "memory": review.memory_id,
        }

    def reject(self, id, reason, kind, **_):
        return self.decide(reject_candidate, id, reviewer=CLI, kind=kind, notes=reason)

    def merge(self, id, reason, into, **_):
        return self.decide(merge_candidate_into, id, into, reviewer=CLI, notes=reason)

    def supersede(self, id, reason, by, **_):
        return self.decide(supersede_memory, id, by, actor=CLI, reason=reason)

    def stale(self, id, reason, **_):
        return self.decide(mark_stale, id, actor=CLI, reason=reason)

    def freeze(self, state, reason, **_):
        """The freeze-promotions override by another name (`manage.py override` has it too)."""
        current = in_force("freeze_promotions", "memory")
        try:
            if state == "on":
                row = apply_override("freeze_promotions", "memory", reason=reason, actor=CLI)
            elif current is not None:
                row = lift_override(current.id, actor=CLI, reason=reason)
            else:
                return {"frozen": False, "reason": "promotions were not frozen"}
        except OverrideRefused as refused:
            fail(str(refused), as_json=self.as_json, code=2)
        return {"frozen": state == "on", "reason": reason, "override": row.id}

    def embed(self, **_):
        try:
            return embed_pending()
        except EmbeddingError as error:
            fail(f"embedding failed: {error}", as_json=self.as_json)
