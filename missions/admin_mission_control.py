"""The mission page's controls in the admin: pause, resume, note, deadline — each asks for its
reason (and a deadline its time) first, then calls missions.mission_control like every other
interface, so each is an event with the operator as actor."""

from missions.admin_proposals import apply_each
from missions.mission_control import control_mission
from opscore.admin import report
from opscore.admin_overrides import reasoned_action
from opscore.models import operator_actor

LABELS = {
    "pause": ("Pause", "paused", "kept with the pause event"),
    "resume": ("Resume", "resumed", "kept with the resume event"),
    "note": ("Send the note", "noted", "the note itself: the next prompt carries it"),
    "deadline": ("Set the deadline", "given a deadline", "kept with the deadline event"),
}


def control_action(verb: str):
    button, done_word, kept_with = LABELS[verb]

    @reasoned_action(
        f"{button} (selected missions)…",
        heading=f"{button}: {{n}} mission(s)",
        label=lambda m: f"M{m.id} — {m.title} ({m.status})",
        button=button,
        kept_with=kept_with,
        ask_deadline=verb == "deadline",
        blank=verb == "note",  # a note is no reason: note_mission holds it to its own 1000
    )
    def action(model_admin, request, queryset, reason):
        deadline = request.POST.get("deadline", "").strip()
        actor = operator_actor(request.user)
        fields = {"reason": reason, "text": reason, "deadline": deadline}
        done, refused = apply_each(
            queryset, lambda m: control_mission(m.pk, verb, actor=actor, fields=fields)
        )
        report(model_admin, request, done, done_word, refused)

    action.__name__ = f"{verb}_missions"
    return action


class MissionControlActions:
    """Mixed into MissionAdmin: the four controls as admin actions."""

    pause_missions = control_action("pause")
    resume_missions = control_action("resume")
    note_missions = control_action("note")
    deadline_missions = control_action("deadline")
    control_actions = ["pause_missions", "resume_missions", "note_missions", "deadline_missions"]
