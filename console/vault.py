"""The Markdown vault: a one-way projection of the database for people to browse (Obsidian or
any editor). Postgres stays the truth.

Names are deterministic (`YYYY-MM-DD-<kind>-<slug>-<id>.md`) and each file records the hash of
what was written, so an unchanged row rewrites nothing. A file a person edited (its content no
longer matches its recorded hash) is never overwritten: the new version goes beside it as
`….conflict.md`, and an event says so. `rebuild` rewrites everything from the database, keeping
any edited file's text as `….edited.md` first — nothing a person wrote is lost.
"""

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.utils.text import slugify

from memory.models import Memory
from opportunities.models import Idea, Notice, Opportunity
from opscore.actions import record_event

MEMORY_FOLDERS = {"decision": "Decisions", "preference": "Preferences", "lesson": "Lessons"}
MEMORY_FOLDERS |= {"pattern": "Patterns", "playbook": "Playbooks"}
PER_KIND = 2000
HASH_LINE = "content_hash: "


@dataclass
class Document:
    folder: str
    kind: str
    row_id: int
    title: str
    created_at: object
    front: dict
    body: str

    @property
    def name(self) -> str:
        slug = slugify(self.title)[:50] or self.kind
        return f"{self.created_at:%Y-%m-%d}-{self.kind}-{slug}-{self.row_id}.md"

    def text(self) -> str:
        lines = ["---", f"id: {self.kind}:{self.row_id}", f"kind: {self.kind}"]
        lines += [f"{key}: {value}" for key, value in self.front.items()]
        content = "\n".join([*lines, "---", f"# {self.title}", "", self.body.strip(), ""])
        return with_hash(content)


def digest_of(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def with_hash(content: str) -> str:
    head, _, rest = content.partition("\n---\n")
    return f"{head}\n{HASH_LINE}{digest_of(content)}\n---\n{rest}"


def recorded_and_actual(text: str) -> tuple[str, str]:
    """The hash a file says it was written with, and the hash of what it holds now."""
    recorded, kept = "", []
    for line in text.split("\n"):
        if line.startswith(HASH_LINE) and not recorded:
            recorded = line.removeprefix(HASH_LINE).strip()
        else:
            kept.append(line)
    return recorded, digest_of("\n".join(kept))


def refs(evidence) -> str:
    return "[" + ", ".join(f"{{{r['type']}: {r['id']}}}" for r in evidence[:20]) + "]"


def documents():
    for o in Opportunity.objects.order_by("-id")[:PER_KIND]:
        front = {"status": o.status, "source_agent": o.source_agent_id, "theme": o.theme}
        front |= {"created_at": o.created_at.isoformat(), "updated_at": o.updated_at.isoformat()}
        front |= {"namespace": "default", "owner_candidate": o.owner_candidate_id or ""}
        front["source_refs"] = refs(o.evidence)
        body = f"## Why now\n{o.why_now}\n\n## Next step\n{o.suggested_next_step}\n\n"
        body += f"Impact {o.impact}, confidence {o.confidence}, urgency {o.urgency}, "
        body += f"reversibility {o.reversibility}."
        yield Document("03 Opportunities", "opportunity", o.id, o.title, o.created_at, front, body)
    for i in Idea.objects.order_by("-id")[:PER_KIND]:
        front = {"status": i.status, "source_agent": i.source_agent_id, "theme": i.theme}
        front |= {"created_at": i.created_at.isoformat(), "source_refs": refs(i.evidence)}
        yield Document("02 Ideas", "idea", i.id, i.title, i.created_at, front, i.body)
    for m in Memory.objects.active().order_by("-id")[:PER_KIND]:
        folder = f"04 Memories/{MEMORY_FOLDERS.get(m.type, 'Notes')}"
        front = {"status": m.status, "source_agent": m.agent_id, "scope": m.scope}
        front |= {"subject_key": m.subject_key, "confidence": m.confidence}
        front |= {"created_at": m.created_at.isoformat(), "source_refs": refs(m.evidence)}
        title = m.title or m.content[:60]
        yield Document(folder, "memory", m.id, title, m.created_at, front, m.content)
    for n in Notice.objects.exclude(lane="alert").order_by("-id")[:PER_KIND]:
        front = {"lane": n.lane, "created_at": n.created_at.isoformat()}
        yield Document("05 Reports", n.lane, n.id, n.title, n.created_at, front, n.body)


def snapshot_document() -> Document:
    """Today's health, one file a day (rewritten while the day lasts, then left as it was)."""
    from console.health import health_snapshot
    from opscore.db import db_now

    now, health = db_now(), health_snapshot()
    top = Opportunity.objects.filter(status__in=["new", "triaged", "accepted"])
    best = sorted(top[:200], key=lambda o: -o.score)[:5]
    lines = [
        f"- queued {health['queued_count']}, blocked {health['blocked_count']}, "
        f"dead {health['dead_count']}",
        f"- standing-order slots missed in 24 h: {health['missed_last_24h']}",
        "- top opportunities: " + ("; ".join(f"O{o.id} {o.title}" for o in best) or "none"),
        f"- active memories: {Memory.objects.active().count()}",
    ]
    front = {"created_at": now.date().isoformat()}
    day_id = int(f"{now:%Y%m%d}")
    return Document("07 Snapshots", "snapshot", day_id, "health", now, front, "\n".join(lines))


def agent_documents():
    from opscore.models import Agent
    from opscore.prompting import voice_modifiers

    for agent in Agent.objects.all():
        modifiers = voice_modifiers(agent.slug)
        front = {"role": agent.role, "enabled": agent.enabled, "created_at": agent.created_at}
        body = agent.voice(modifiers)
        folder = f"06 Agents/{agent.slug}"
        yield Document(folder, "agent", 0, agent.display_name, agent.created_at, front, body)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".vault-")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def place(root: Path, doc: Document, rebuild: bool) -> str:
    path = root / doc.folder / doc.name
    text = doc.text()
    if not path.exists():
        write_atomically(path, text)
        return "written"
    current = path.read_text()
    recorded, actual = recorded_and_actual(current)
    edited = recorded != actual
    if current == text:
        return "unchanged"
    if edited and not rebuild:
        conflict = path.with_suffix(".conflict.md")
        if conflict.exists() and conflict.read_text() == text:
            return "conflict"  # already said, once
        write_atomically(conflict, text)
        record_event(
            "vault.conflict",
            f"{path.name} was edited by a person; the new version is beside it",
            payload={"file": str(path.relative_to(root)), "row": f"{doc.kind}:{doc.row_id}"},
            actor="system:vault",
        )
        return "conflict"
    if edited:
        write_atomically(path.with_suffix(".edited.md"), current)
    write_atomically(path, text)
    return "rewritten"


def export_vault(root: Path, *, rebuild: bool = False) -> dict[str, int]:
    counts = {"written": 0, "unchanged": 0, "rewritten": 0, "conflict": 0}
    for doc in [*documents(), *agent_documents(), snapshot_document()]:
        counts[place(root, doc, rebuild)] += 1
    return counts
