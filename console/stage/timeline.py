"""A mission's steps on one time axis: when each was queued, when it was due (a delayed step's
run-at), and each attempt as a bar from start to end, coloured by its outcome."""

from datetime import datetime, timedelta

WIDTH = 900
ROW = 34
LEFT = 160


def span_of(mission, steps, now) -> tuple[datetime, datetime]:
    start = mission.created_at
    moments = [now if s.finished_at is None else s.finished_at for s in steps]
    moments += [s.run_after for s in steps]
    end = max([start, *moments])
    return start, end if end > start else now


def mission_timeline(mission, steps, now) -> dict:
    start, end = span_of(mission, steps, now)
    seconds = max((end - start).total_seconds(), 1.0)

    def x(moment) -> float:
        return round(LEFT + (moment - start).total_seconds() / seconds * (WIDTH - LEFT - 10), 1)

    rows = []
    for index, step in enumerate(steps):
        attempts = [
            {
                "no": a.attempt_no,
                "outcome": a.outcome or "running",
                "x": x(a.started_at),
                "width": max(x(a.finished_at or now) - x(a.started_at), 3),
                "seconds": ((a.finished_at or now) - a.started_at).total_seconds(),
                "worker": a.worker_id,
                "error": a.error[:200],
            }
            for a in step.attempts.all()
        ]
        delayed = step.run_after > step.created_at and step.status == "queued"
        rows.append(
            {
                "step": step,
                "y": index * ROW + 24,
                "queued_x": x(step.created_at),
                "due_x": x(step.run_after),
                "delayed": delayed,
                "attempts": attempts,
            }
        )
    return {
        "rows": rows,
        "ticks": ticks_of(start, seconds, x),
        "width": WIDTH,
        "height": len(rows) * ROW + 34,
    }


def ticks_of(start, seconds: float, x) -> list[dict]:
    """Five ticks over the whole axis (a mission under a second still spans at least one, so
    its ticks do not bunch up and print over each other). Under a minute, the ticks after the
    first read as offsets ("+0.25 s"): five equal clock times say nothing."""
    ticks = []
    for i in range(5):
        offset = seconds * i / 4
        moment = start + timedelta(seconds=offset)
        short = f"+{offset:.3g} s" if i and seconds < 60 else ""
        ticks.append({"x": x(moment), "label": moment, "offset": short})
    return ticks
