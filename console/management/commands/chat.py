"""`manage.py chat ask "what is running?"`, `chat confirm ID`, `chat discard ID`, `chat history`
[--as NAME] [--json]: the Stage's chat with the coordinator, from a terminal. A drafted proposal
is only shown; `chat confirm` submits it to the intake."""

import shlex

from django.contrib.auth import get_user_model

from console.chat import as_json, confirm_draft, discard_draft, history, send_message
from missions.talk import TalkRefused
from missions.text import as_printed
from opscore.cli import OpsCommand, actor_name, add_verbs, dump, fail, whole

NO_MESSAGES = "No messages yet: start with `.venv/bin/opscore chat ask …`"
DEFAULT_OPERATOR = "cli"


class Command(OpsCommand):
    help = "Talk to the company: answers cite the ledger's rows; work becomes a draft to confirm."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--as", dest="operator", default=DEFAULT_OPERATOR, help="who is talking"
        )
        verbs = add_verbs(parser)
        verbs.add_parser("ask", help="send a message").add_argument("text")
        for verb, what in [("confirm", "submit a draft to the intake"), ("discard", "drop it")]:
            verbs.add_parser(verb, help=what).add_argument("id", type=whole)
        verbs.add_parser("history", help="your chat so far")

    def handle(self, *args, verb, **opts):
        as_json_out = opts["json"]
        name = actor_name("--as", opts["operator"])  # the comment's and events' actor
        actor = f"operator:{name}"
        user = get_user_model().objects.filter(username=name).first()
        try:
            shown = self.run(verb, actor, user, opts)
        except TalkRefused as refused:
            fail(str(refused), as_json=as_json_out, code=2)
        self.operator = name
        self.stdout.write(dump(shown) if as_json_out else self.readable(shown))

    def run(self, verb, actor, user, opts):
        if verb == "ask":
            return {"answer": as_json(send_message(opts["text"], actor=actor, user=user))}
        if verb == "confirm":
            return {"proposal": confirm_draft(opts["id"], actor=actor, user=user).as_json()}
        if verb == "discard":
            return {"answer": as_json(discard_draft(opts["id"], actor=actor))}
        return {"messages": [as_json(m) for m in history(actor)]}

    def readable(self, shown: dict) -> str:
        if "proposal" in shown:
            p = shown["proposal"]
            return f"P{p['id']} {p['status']}: {p['title']}" + (
                f" ({p['reason']})" if p["reason"] else ""
            )
        if "answer" in shown:
            return self.message(shown["answer"])
        messages = shown["messages"]  # history: none yet, for someone who has not asked
        return "\n\n".join(map(self.message, messages)) or NO_MESSAGES

    def message(self, m: dict) -> str:
        lines = [f"C{m['id']} {m['agent'] or m['role']}: {as_printed(m['text'])}"]
        lines += [f"  [{c['ref']}] {c['url']}" for c in m["citations"]]
        if m["draft"]:
            lines += self.draft(m)
            if m["draft_state"] == "drafted":
                lines.append(f"  submit it: {self.confirm_line(m['id'])}")
        return "\n".join(lines)

    def confirm_line(self, message_id: int) -> str:
        """A draft is confirmed only in its asker's chat: the line names them when `--as` did,
        or, pasted, it answered "no draft C4 in your chat"."""
        named = "" if self.operator == DEFAULT_OPERATOR else f" --as {shlex.quote(self.operator)}"
        return f".venv/bin/opscore chat confirm {message_id}{named}"

    @staticmethod
    def draft(m: dict) -> list[str]:
        """The draft as the Stage shows it: who would do it, and each step's topic, the model's
        words `chat confirm` submits (the title and step kinds alone hid them)."""
        draft = m["draft"]
        steps = ", ".join(s["kind"] for s in draft["steps"])
        title = as_printed(draft["title"])
        lines = [f"  draft ({m['draft_state']}) by {draft['agent']}: {title} [{steps}]"]
        for step in draft["steps"]:
            topic = as_printed(str(step.get("payload", {}).get("topic", "")), indent="      ")
            lines.append(f"    {step['kind']}: {topic}")
        return lines
