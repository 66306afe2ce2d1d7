"""A golden set of recorded missions: each file is a mission's steps and the record of every
call it made. tests/missions/test_golden_replays.py loads each and replays it offline; a prompt
change shows up there as a divergence at the call it changed. After a deliberate change,
rewrite them:
`OPS_GOLDEN_WRITE=1 .venv/bin/pytest tests/missions/test_golden_replays.py`."""

import json
from pathlib import Path

from missions.models import Mission, Proposal, Step
from opscore.llm_records import keep_record
from opscore.models import Agent, LLMCall

HERE = Path(__file__).parent
AGENT_FIELDS = ("slug", "display_name", "role", "tone", "quirk", "signature", "system_directive")
CALL_FIELDS = ("purpose", "lane", "tier", "provider", "model", "prompt_version", "outcome")


def export_mission(mission: Mission) -> dict:
    steps = list(mission.steps.order_by("position", "id"))
    calls = LLMCall.objects.filter(step__mission=mission).select_related("record").order_by("id")
    return {
        "agent": {f: getattr(mission.agent, f) for f in AGENT_FIELDS},
        "title": mission.title,
        "steps": [
            {"kind": s.kind, "payload": s.payload, "status": s.status, "result": s.result}
            for s in steps
        ],
        "calls": [
            {f: getattr(c, f) for f in CALL_FIELDS}
            | {"step": steps.index(c.step), "request": c.record.request, "reply": c.record.reply}
            for c in calls
        ],
    }


def load_mission(path: Path) -> Mission:
    """The mission as it was recorded, with its calls and their records."""
    golden = json.loads(path.read_text())
    agent, _ = Agent.objects.update_or_create(
        slug=golden["agent"]["slug"], defaults=golden["agent"] | {"enabled": True}
    )
    proposal = Proposal.objects.create(
        agent=agent, title=golden["title"], source="api", status="accepted", proposed_steps=[]
    )
    mission = Mission.objects.create(
        title=golden["title"], agent=agent, created_by="golden", proposal=proposal
    )
    steps = [
        Step.objects.create(mission=mission, agent=agent, position=n, **step)
        for n, step in enumerate(golden["steps"])
    ]
    for call in golden["calls"]:
        fields = {f: call[f] for f in CALL_FIELDS}
        step = steps[call["step"]]
        row = LLMCall.objects.create(
            agent=agent, step=step, links={"step": step.id, "mission": mission.id}, **fields
        )
        keep_record(row, call["request"], call["reply"])
    return mission
