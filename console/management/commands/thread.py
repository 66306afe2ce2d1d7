"""`manage.py thread show KIND ID`, `thread comment KIND ID TEXT [--answers QUESTION]`
[--as NAME] [--json]. KIND: mission, proposal, opportunity, coding_run."""

from django.contrib.auth import get_user_model

from missions.talk import TalkRefused
from missions.text import as_printed
from missions.threads import post_comment, posted_json, subject_of, thread_of
from opscore.cli import OpsCommand, actor_name, add_verbs, dump, fail, whole
from opscore.db import db_now


class Command(OpsCommand):
    help = "Read a thread, or comment on it (the owning agent answers; an answer wakes a step)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--as", dest="operator", default="cli", help="who is writing")
        verbs = add_verbs(parser)
        show = verbs.add_parser("show", help="the comments on one subject")
        comment = verbs.add_parser("comment", help="write on it")
        for sub in (show, comment):
            sub.add_argument("kind")
            sub.add_argument("id", type=whole)
        comment.add_argument("text")
        comment.add_argument("--answers", type=whole, help="the question (T id) this answers")

    def handle(self, *args, verb, kind, id, **opts):
        name = actor_name("--as", opts["operator"])  # the comment's and events' actor
        posted = None
        try:
            if verb == "comment":
                user = get_user_model().objects.filter(username=name).first()
                posted = post_comment(
                    kind,
                    id,
                    actor=f"operator:{name}",
                    user=user,
                    text=opts["text"],
                    answers=opts.get("answers"),
                )
            subject = subject_of(kind, id)
        except TalkRefused as refused:
            fail(str(refused), as_json=opts["json"], code=2)
        now = db_now()
        comments = [c.as_json(now) for c in thread_of(kind, id)]
        if opts["json"]:  # a comment's answer as the API's ({"comment", "reply"}), and the thread
            thread = {"thread": f"{kind}:{id}", "subject": subject.as_json()}
            said = posted_json(posted, now) if posted else {}
            self.stdout.write(dump(thread | {"comments": comments} | said))
            return
        self.stdout.write(
            f"{subject.label} {as_printed(subject.title)}"
            + (f" ({subject.closed})" if subject.closed else "")
        )
        for c in comments:
            closed = f": {c['question_closed']}" if c["question_closed"] else ""
            state = f" [{c['question_state']}{closed}]" if c["question_state"] else ""
            self.stdout.write(
                f"T{c['id']} {c['kind']}{state} {c['actor']}: {as_printed(c['text'])}"
            )
            if c["note"]:
                self.stdout.write(f"  ({c['note']})")
