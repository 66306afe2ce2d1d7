"""A thread comment's event: the one place a comment becomes visible on the Stage, whoever
wrote it (operator remarks in missions/threads.py, agents' replies in missions/thread_replies.py).
"""

from missions.models import Comment, CommentKind
from opscore.actions import record_event


def comment_event(comment: Comment, title: str, actor: str) -> None:
    record_event(
        "thread.comment",
        title,
        summary=comment.text,
        tags=["thread", comment.kind],
        payload={
            "thread": comment.thread,
            "comment_id": comment.id,
            "comment_kind": comment.kind,
            "starts_work": comment.starts_work,
            "untrusted": words_untrusted(comment),
        },
        agent_id=comment.agent_id,
        mission_id=comment.mission_id,
        step=comment.step,
        actor=actor,
    )


def words_untrusted(comment: Comment) -> bool:
    """An operator's words are untrusted input wherever they travel (missions/provenance), and
    so is an agent's reply: the model's answer to those words, which a remark can talk into
    saying anything. Only a step's question is judged by its step (the event names it)."""
    return comment.kind != CommentKind.QUESTION


def record_agent_comment(comment: Comment) -> Comment:
    """An agent's reply or question: saved with its event (the Stage shows it live)."""
    comment.save()
    title = f"{comment.agent_id} on {comment.thread}: {comment.text[:120]}"
    comment_event(comment, title, comment.actor)
    return comment
