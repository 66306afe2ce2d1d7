"""Every statement of a process that serves people or outside runtimes has a deadline, so a row
another session holds (an operator's psql transaction left open) or a runaway query ends the
request with a reason instead of holding it as long as the other session likes. The deadlines
are Postgres's own (statement_timeout, lock_timeout), set once per connection as startup options:
no round trip per request, pooled connections included, and the transaction the statement was in
is rolled back by whoever opened it (atomic blocks do). Long maintenance runs without them
(OPS_DB_UNBOUNDED in the settings)."""

QUERY_CANCELED = "57014"  # statement_timeout (or a cancel)
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout
BUSY = {
    LOCK_NOT_AVAILABLE: "another session holds a row this needs (waited past "
    "OPS_DB_LOCK_TIMEOUT_SECONDS)",
    QUERY_CANCELED: "a statement ran past its deadline (OPS_DB_STATEMENT_TIMEOUT_SECONDS)",
}


def startup_options(statement_seconds: int, lock_seconds: int) -> str:
    """libpq's `options`: settings the server applies to the session as it starts (0: none)."""
    return f"-c statement_timeout={statement_seconds * 1000} -c lock_timeout={lock_seconds * 1000}"


def busy_reason(error: BaseException) -> str | None:
    """Why the database gave up on the statement, when a deadline did; None for anything else."""
    cause = error.__cause__ if error.__cause__ is not None else error
    said = BUSY.get(getattr(cause, "sqlstate", None))
    return None if said is None else f"database busy: {said}; its transaction was rolled back"
