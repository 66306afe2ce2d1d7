"""A labelled retrieval set for bench/memory.py: memories four agents might hold, and contexts
written the way `missions.prompts.step_about` builds them (a mission title, then the topic or
the order's instructions), each with graded relevance: 2 = the memory the step needs, 1 = a
useful one. Written by hand for the benchmark; nothing in memory/ knows these words.

Categories: exact (the context shares the memory's words), paraphrase (it says the same thing
in other words), subject (a project or service named loosely), agents (another agent's shared
memory), hazard (the best textual match is stale, superseded, archived, expired or another
agent's private memory: it must never come back) and none (nothing stored applies: every
returned memory is filler).
"""

AGENTS = ["devops", "security", "growth", "research"]


def m(key, agent, text, title="", kind="lesson", scope="agent", subject="", shared=False, **extra):
    return {
        "key": key,
        "agent": agent,
        "title": title,
        "content": text,
        "type": kind,
        "scope": scope,
        "subject_key": subject,
        "visibility": "shared" if shared else "private",
        "confidence": extra.pop("confidence", 0.75),
        **extra,
    }


CORPUS = [
    # devops, its own
    m(
        "disk-fri",
        "devops",
        "The log volume on db-1 fills up every Friday after the weekly "
        "export; rotate the export logs on Thursday night.",
        "db-1 disk fills on Fridays",
    ),
    m(
        "cert-renew",
        "devops",
        "Renewing the TLS certificate on the edge proxy takes two days "
        "because the CA needs a DNS challenge; start at least a week before expiry.",
        "Certificate renewal needs a week",
        confidence=0.6,
    ),
    m(
        "invoice-days",
        "devops",
        "Allow three days before chasing an unpaid hosting invoice.",
        confidence=1.0,
    ),
    m(
        "deploy-fri",
        "devops",
        "Deploys on Friday afternoon went badly three times; ship before Thursday noon.",
        "No Friday deploys",
        kind="decision",
        confidence=0.9,
    ),
    m(
        "backup-sun",
        "devops",
        "The nightly backup of db-1 skips Sundays because the maintenance window overlaps it.",
        "db-1 backup skips Sundays",
    ),
    m(
        "oom-worker",
        "devops",
        "The queue worker runs out of memory when a batch exceeds 5,000 rows; split large batches.",
        "Worker OOM on big batches",
    ),
    m(
        "dns-ttl",
        "devops",
        "Lower the DNS TTL to 60 seconds a day before moving a service to "
        "new addresses, or clients keep the old ones for hours.",
        "DNS TTL before migrations",
    ),
    m(
        "pg-vacuum",
        "devops",
        "Autovacuum falls behind on the events table during bulk imports; "
        "run a manual VACUUM ANALYZE afterwards.",
        "Vacuum after bulk imports",
    ),
    m(
        "latency-cache",
        "devops",
        "p95 latency of the API doubles when the Redis cache is cold "
        "after a restart; warm it before sending traffic.",
        "Cold cache doubles latency",
    ),
    m(
        "cron-utc",
        "devops",
        "Cron schedules on the build hosts run in UTC, not local time.",
        kind="fact",
    ),
    m("meetings", "devops", "Standups run long on Mondays.", confidence=0.95),
    m(
        "coffee",
        "devops",
        "The office coffee machine is descaled on the first of the month.",
        kind="fact",
        confidence=0.95,
    ),
    m(
        "alert-fatigue",
        "devops",
        "Pages for disk usage above 80 % were ignored; page at 90 % and only ticket at 80 %.",
        "Disk alert thresholds",
        kind="decision",
    ),
    m(
        "rollback",
        "devops",
        "Roll back first, investigate second: a failed deploy is reverted within ten minutes.",
        "Rollback rule",
        kind="playbook",
    ),
    # devops hazards
    m(
        "disk-fri-old",
        "devops",
        "The log volume on db-1 fills up every Friday; add a second disk.",
        "db-1 disk fills on Fridays (old)",
        status="superseded",
    ),
    m(
        "cert-stale",
        "devops",
        "Certificate renewal on the edge proxy is automatic, nothing to do.",
        "Certificate renewal is automatic",
        status="stale",
    ),
    m(
        "backup-archived",
        "devops",
        "The db-1 backup runs at 01:00 every night including Sundays.",
        status="archived",
    ),
    m("ttl-expired", "devops", "Keep the DNS TTL at one day to save lookups.", expired=True),
    # subjects
    m(
        "acme-invoices",
        "growth",
        "Invoices go to their finance mailbox, never to the project lead.",
        "Where Acme invoices go",
        kind="fact",
        scope="project",
        subject="acme-corp",
        shared=True,
    ),
    m(
        "acme-contact",
        "growth",
        "The project lead prefers a weekly written summary over calls.",
        kind="preference",
        scope="project",
        subject="acme-corp",
        shared=True,
    ),
    m(
        "checkout-flag",
        "devops",
        "Every deploy needs a feature flag: the payment step cannot be rolled back without one.",
        kind="constraint",
        scope="service",
        subject="checkout-web",
        shared=True,
    ),
    m(
        "checkout-owner",
        "devops",
        "Owned by the payments team; on call rota in the wiki.",
        kind="fact",
        scope="service",
        subject="checkout-web",
        shared=True,
    ),
    m(
        "billing-port",
        "devops",
        "Listens on port 8443, TLS only.",
        kind="fact",
        scope="service",
        subject="billing-api",
        shared=True,
    ),
    m(
        "billing-owner",
        "devops",
        "The ledger team owns it since the reorg.",
        kind="fact",
        scope="service",
        subject="billing-api",
        shared=True,
    ),
    m(
        "dana-tz",
        "growth",
        "Dana works from Lisbon; schedule calls before 17:00 her time.",
        kind="preference",
        scope="person",
        subject="dana-ortiz",
        shared=True,
    ),
    # company-wide
    m(
        "no-weekend-posts",
        "growth",
        "We do not post on social media at weekends.",
        "No weekend posts",
        kind="decision",
        scope="global",
        shared=True,
    ),
    m(
        "budget-cap",
        "research",
        "LLM spend is capped at 40 dollars a day across all agents.",
        "Daily LLM budget",
        kind="constraint",
        scope="global",
        shared=True,
    ),
    m(
        "support-hours",
        "growth",
        "Customer support answers within four business hours.",
        kind="fact",
        scope="global",
        shared=True,
    ),
    m(
        "pricing-insight",
        "research",
        "Customers who start on the annual plan churn half as often as monthly ones.",
        "Annual plans churn less",
        kind="insight",
        scope="global",
        shared=True,
    ),
    m(
        "launch-strategy",
        "growth",
        "Announce features on Tuesday mornings; engagement peaks then.",
        "Tuesday launches",
        kind="strategy",
        scope="global",
        shared=True,
    ),
    m(
        "incident-pattern",
        "research",
        "Most outages follow a configuration change made in the previous hour.",
        "Outages follow config changes",
        kind="pattern",
        scope="global",
        shared=True,
    ),
    m(
        "style-guide",
        "growth",
        "Write in plain English; no exclamation marks in public posts.",
        kind="preference",
        scope="global",
        shared=True,
    ),
    # other agents' agent-scope memories
    m(
        "vault-rotate",
        "security",
        "Rotate the vault root token every week and after any staff departure.",
        "Vault token rotation",
        shared=True,
    ),
    m(
        "vault-private",
        "security",
        "I suspect the vault token leaked in a CI log last month.",
        "Vault token leak hunch",
    ),
    m(
        "phish",
        "security",
        "Phishing mails imitate the payroll provider; check the sender "
        "domain before opening attachments.",
        "Payroll phishing",
        shared=True,
    ),
    m(
        "tweet-length",
        "growth",
        "Tweets under 120 characters get more replies than long ones.",
        "Short tweets do better",
        shared=True,
    ),
    m("tweet-private", "growth", "My drafts about outages get fewer likes.", "Outage tweets flop"),
    m(
        "crawl-robots",
        "research",
        "Some vendor docs block crawlers; respect robots.txt and fall back to the sitemap.",
        "Crawling vendor docs",
        shared=True,
    ),
    m(
        "research-sources",
        "research",
        "Primary sources beat blog summaries when citing benchmarks.",
        "Cite primary sources",
    ),
]

Q = dict


QUERIES = [
    # exact
    Q(
        cat="exact",
        agent="devops",
        text="Diagnose: disk full on db-1\ndb-1 disk usage above 95 percent on Friday",
        rel={"disk-fri": 2, "alert-fatigue": 1},
    ),
    Q(
        cat="exact",
        agent="devops",
        text="Standing order cert-watch\ncheck the TLS certificate renewal for the edge proxy",
        rel={"cert-renew": 2},
    ),
    Q(
        cat="exact",
        agent="devops",
        text="Plan the Friday release\nship the new API on Friday afternoon",
        rel={"deploy-fri": 2, "rollback": 1},
    ),
    Q(
        cat="exact",
        agent="devops",
        text="Diagnose: backup missing\nno db-1 backup found for Sunday",
        rel={"backup-sun": 2},
    ),
    Q(
        cat="exact",
        agent="devops",
        text="Worker crashed\nqueue worker out of memory on a large batch",
        rel={"oom-worker": 2},
    ),
    Q(
        cat="exact",
        agent="devops",
        text="Migrate the API to new servers\nplan the DNS cut-over",
        rel={"dns-ttl": 2, "incident-pattern": 1},
    ),
    Q(
        cat="exact",
        agent="devops",
        text="Slow responses\nAPI p95 latency high after the cache restart",
        rel={"latency-cache": 2},
    ),
    Q(
        cat="exact",
        agent="devops",
        text="Bulk import finished\nthe events table import is done, queries slow",
        rel={"pg-vacuum": 2},
    ),
    # paraphrase
    Q(
        cat="paraphrase",
        agent="devops",
        text="Storage pressure at the end of the week\nthe database volume is nearly out of space",
        rel={"disk-fri": 2, "alert-fatigue": 1},
    ),
    Q(
        cat="paraphrase",
        agent="devops",
        text="Our HTTPS cert expires soon\nwhat to do before the cert lapses",
        rel={"cert-renew": 2},
    ),
    Q(
        cat="paraphrase",
        agent="devops",
        text="Release timing\nis shipping late in the week a good idea",
        rel={"deploy-fri": 2},
    ),
    Q(
        cat="paraphrase",
        agent="devops",
        text="Move the service to another host\nchange its addresses without clients noticing",
        rel={"dns-ttl": 2},
    ),
    Q(
        cat="paraphrase",
        agent="devops",
        text="A release broke production\nwhat now",
        rel={"rollback": 2, "incident-pattern": 1},
    ),
    Q(
        cat="paraphrase",
        agent="growth",
        text="Scheduling social content\nwhich days should we publish",
        rel={"no-weekend-posts": 2, "launch-strategy": 2},
    ),
    Q(
        cat="paraphrase",
        agent="research",
        text="Why do customers leave\nreduce cancellations",
        rel={"pricing-insight": 2},
    ),
    Q(
        cat="paraphrase",
        agent="devops",
        text="Suspicious email about salaries\nan attachment claims to be from payroll",
        rel={"phish": 2},
    ),
    # subject
    Q(
        cat="subject",
        agent="devops",
        text="Send the Acme invoice\nbill Acme for November",
        rel={"acme-invoices": 2, "acme-contact": 1},
    ),
    Q(
        cat="subject",
        agent="growth",
        text="Weekly update for Acme\nwrite the Acme status note",
        rel={"acme-contact": 2, "acme-invoices": 1},
    ),
    Q(
        cat="subject",
        agent="devops",
        text="Deploy checkout\nrelease the new checkout page",
        rel={"checkout-flag": 2, "deploy-fri": 1, "checkout-owner": 1},
    ),
    Q(
        cat="subject",
        agent="devops",
        text="Who to page for billing\nbilling API errors",
        rel={"billing-owner": 2, "billing-port": 1},
    ),
    Q(
        cat="subject",
        agent="growth",
        text="Call with Dana\nset up a call with Dana Ortiz",
        rel={"dana-tz": 2},
    ),
    # another agent's shared memory
    Q(
        cat="agents",
        agent="devops",
        text="Security housekeeping\nrotate the vault token",
        rel={"vault-rotate": 2},
    ),
    Q(
        cat="agents",
        agent="devops",
        text="Draft a tweet about the outage fix\nshort tweet",
        rel={"tweet-length": 2, "style-guide": 1},
    ),
    Q(
        cat="agents",
        agent="growth",
        text="Read the vendor docs\ncrawl the vendor documentation",
        rel={"crawl-robots": 2},
    ),
    Q(
        cat="agents",
        agent="research",
        text="Model spend\nhow much may we spend on LLM calls",
        rel={"budget-cap": 2},
    ),
    # hazards: the closest words belong to memories that must never come back
    Q(
        cat="hazard",
        agent="devops",
        text="Certificate renewal\nis certificate renewal on the edge proxy automatic",
        rel={"cert-renew": 2},
    ),
    Q(
        cat="hazard",
        agent="devops",
        text="db-1 disk fills on Fridays\nadd a disk?",
        rel={"disk-fri": 2},
    ),
    Q(
        cat="hazard",
        agent="devops",
        text="db-1 backup schedule\nwhen does the db-1 backup run",
        rel={"backup-sun": 2},
    ),
    Q(
        cat="hazard",
        agent="devops",
        text="DNS TTL\nwhat DNS TTL should we keep",
        rel={"dns-ttl": 2},
    ),
    Q(
        cat="hazard",
        agent="devops",
        text="Vault token leak\ndid the vault token leak",
        rel={"vault-rotate": 1},
    ),
    Q(
        cat="hazard",
        agent="devops",
        text="Outage tweets\nwhy do outage tweets flop",
        rel={"tweet-length": 1},
    ),
    # nothing stored applies
    Q(
        cat="none",
        agent="devops",
        text="Kubernetes ingress\nconfigure the ingress controller",
        rel={},
    ),
    Q(cat="none", agent="growth", text="Podcast guest list\nfind three podcast guests", rel={}),
    Q(cat="none", agent="research", text="Quantum annealing\nsummarise quantum annealing", rel={}),
]
