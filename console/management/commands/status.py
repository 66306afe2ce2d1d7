from console.status import system_status
from opscore.cli import OpsCommand, dump
from opscore.policy_names import describe_unknown

OUTBOX_STUCK_AFTER = 300  # seconds: a running deliverer takes a due message within its poll


class Command(OpsCommand):
    help = "Queue depths per status and kind, oldest queued age, rejections today."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        status = system_status()
        if opts["json"]:
            self.stdout.write(dump(status))
            return
        queue = status["queue"]
        self.stdout.write("Steps by status (by kind):")
        for state, kinds in queue["depths"].items():
            detail = ", ".join(f"{k}={n}" for k, n in sorted(kinds.items())) or "-"
            self.stdout.write(f"  {state:<10} {queue['totals'][state]:>6}  {detail}")
        age = queue["oldest_queued_age_seconds"]
        self.stdout.write(f"Oldest queued step: {'none' if age is None else f'{age:.0f}s old'}")
        if (claimable := queue["oldest_claimable_age_seconds"]) != age:
            oldest = "none" if claimable is None else f"{claimable:.0f}s old"
            self.stdout.write(
                f"  the older ones held by a switch; oldest a worker may take: {oldest}"
            )
        self.write_health(status["health"], status["llm"])
        rejections = status["proposals"]["rejections_today"]
        codes = ", ".join(f"{k}={n}" for k, n in rejections["by_code"].items()) or "-"
        self.stdout.write(f"Rejections today: {rejections['total']} ({codes})")
        self.stdout.write(f"Pending proposals: {status['proposals']['pending']}")
        missions = ", ".join(f"{k}={n}" for k, n in sorted(status["missions"].items())) or "-"
        self.stdout.write(f"Missions: {missions}")
        self.write_workers(status["workers"])
        self.write_sweeper(status["sweeper"])
        self.write_heartbeat(status["last_heartbeat"])
        self.write_outbox(status["outbox"])
        if status["switched_off_kinds"]:
            self.stdout.write(f"Switched off (breaker/operator): {status['switched_off_kinds']}")
        for line in describe_unknown(status["unknown_in_policies"]):
            self.stdout.write(f"Unknown in policy (kept, ignored): {line}")
        for o in status["overrides"]:
            until = f"until {o['expires_at'][:16]} UTC" if o["expires_at"] else "until lifted"
            self.stdout.write(
                f"Override {o['id']}: {o['kind']} {o['target']} {until}: {o['reason']}"
            )
        box = status["coding_sandbox"]
        if box["runs"] == "confined":
            self.stdout.write("Coding sandbox: confined")
        else:  # red: harness runs are refused, or run unconfined by the operator's opt-in
            said = f"Coding sandbox: {box['runs']} — {box['missing']}"
            self.stdout.write(said, self.style.ERROR)  # coloured after its words are shown
        agents = status["agents"]
        self.stdout.write(
            f"Agents enabled: {len(agents['enabled'])}/{agents['total']} "
            f"({', '.join(agents['enabled']) or '-'})"
        )

    def write_workers(self, workers: dict) -> None:
        for label in ("live", "stale"):
            for w in workers[label]:
                step = f", running S{w['current_step']}" if w["current_step"] else ""
                ran = f"{w['steps_run']} step{'' if w['steps_run'] == 1 else 's'}"
                self.stdout.write(
                    f"Worker {label}: {w['worker_id']} seen {w['last_seen_seconds_ago']:.0f}s ago"
                    f", {ran}{step}"
                )
        if not workers["live"]:
            self.stdout.write("Workers: none live")

    def write_sweeper(self, sweeper: dict) -> None:
        """Red when the cluster stopped sweeping: workers alone do not make a running system."""
        seconds = sweeper["seconds_ago"]
        if not sweeper["stalled"]:
            failed = "" if sweeper["succeeded"] else ", and it failed (admin → Failed tasks)"
            self.stdout.write(f"Sweeper: last swept {seconds:.0f}s ago{failed}")
            return
        when = "never swept" if seconds is None else f"last swept {seconds // 60:.0f} min ago"
        if seconds is not None and not sweeper["succeeded"]:
            when = f"last swept {seconds:.0f}s ago and it failed; {since_success(sweeper)}"
        self.stdout.write(
            f"Sweeper: STALLED, {when}: the django-q cluster runs no timers (sweep, heartbeat, "
            "standing orders); `make run` or `.venv/bin/opscore supervise` starts it",
            self.style.ERROR,
        )

    def write_heartbeat(self, beat: dict | None) -> None:
        """Red when the last beat's duties did not all run: each failure is on its row."""
        if beat is None:
            self.stdout.write("Heartbeat: never ran")
            return
        said = f"Heartbeat: last beat {beat['seconds_ago'] // 60:.0f} min ago, {beat['status']}"
        if not beat["failed_duties"]:
            self.stdout.write(said)
            return
        failed = ", ".join(beat["failed_duties"])
        self.stdout.write(f"{said}: {failed} failed (admin → Action runs)", self.style.ERROR)

    def write_outbox(self, outbox: dict) -> None:
        """Red once a due message has waited past OUTBOX_STUCK_AFTER: a deliverer takes one
        within seconds, so nobody is delivering (the pending count alone never says so)."""
        said = f"Outbox: {outbox['pending']} pending, {outbox['failed']} failed"
        said += f", {outbox['refused']} refused"
        age = outbox["oldest_due_age_seconds"]
        if age is None or age <= OUTBOX_STUCK_AFTER:
            self.stdout.write(said if age is None else f"{said}; oldest due {age:.0f}s ago")
            return
        self.stdout.write(
            f"{said}; oldest due {age:.0f}s ago, not taken: is the deliverer running? "
            "(`make run` or `.venv/bin/opscore supervise` starts `.venv/bin/opscore deliver`)",
            self.style.ERROR,
        )

    def write_health(self, health: dict, llm: dict) -> None:
        blocked, delayed = health["oldest_blocked_age_seconds"], health["next_delayed_run_at"]
        self.stdout.write(
            f"Expired leases: {health['expired_lease_count']}, "
            f"retry hotspots: {health['retry_hotspot_count']}, "
            f"oldest blocked: {'none' if blocked is None else f'{blocked:.0f}s'}, "
            f"next delayed run: {f'{delayed:%Y-%m-%d %H:%M:%S} UTC' if delayed else 'none'}"
        )
        runs = ", ".join(
            f"{k.removesuffix('_last_24h')}={v}" for k, v in health.items() if k.endswith("_24h")
        )
        self.stdout.write(f"Standing orders (24 h): {runs}")
        self.stdout.write(
            f"Opportunities: {counts(health, 'opp_')}; ideas: {counts(health, 'idea_')}"
        )
        offline = " (OFFLINE: replies are stand-ins marked [offline]; posts are not posted)"
        self.stdout.write(
            f"LLM provider: {llm['provider']}{offline if llm['offline'] else ''}; spent today "
            f"${llm['spent_today_usd']:.4f} of ${llm['budget_today_usd']:.2f}"
        )
        lanes = ", ".join(
            f"{lane['lane']} ${lane['spent_usd']:.4f} of ${lane['hard_usd']:.2f} ({lane['tier']})"
            for lane in llm["lanes"]
        )
        self.stdout.write(f"LLM spend by lane today: {lanes or '-'}")


def counts(health: dict, prefix: str) -> str:
    """`new 2, triaged 0, …, oldest new 3600s` from the snapshot's opportunity or idea columns."""
    parts = [
        f"{k.removeprefix(prefix).removesuffix('_count')} {v}"
        for k, v in health.items()
        if k.startswith(prefix) and k.endswith("_count")
    ]
    oldest = health.get(f"{prefix}oldest_new_age_seconds")
    return ", ".join(parts) + (f", oldest new {oldest:.0f}s" if oldest is not None else "")


def since_success(sweeper: dict) -> str:
    """How long the sweeps have been failing: since the last one that succeeded, if any."""
    seconds = sweeper["seconds_since_success"]
    if seconds is None:
        return "none ever succeeded"
    return f"none succeeded for {seconds // 60:.0f} min"
