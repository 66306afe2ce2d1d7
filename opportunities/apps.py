from django.apps import AppConfig


class OpportunitiesConfig(AppConfig):
    name = "opportunities"

    def ready(self):
        register_edges()
        register_evidence()
        register_orders()
        register_publishing()
        from django.core import checks as django_checks

        from missions.threads import PROPOSED_FROM, SUBJECTS
        from opportunities import checks, override_kinds

        override_kinds.register()
        django_checks.register(checks.check_channels)
        SUBJECTS.register("opportunity", opportunity_subject)
        PROPOSED_FROM.register("opportunity", converted_into)


def register_evidence():
    """Ideas and opportunities may be cited as evidence; both carry why they are untrusted."""
    from memory.evidence import EVIDENCE_TYPES, UNTRUSTED_BECAUSE

    EVIDENCE_TYPES.register_all(
        {"idea": "opportunities.Idea", "opportunity": "opportunities.Opportunity"}
    )
    UNTRUSTED_BECAUSE.register_all({"idea": idea_untrusted, "opportunity": opp_untrusted})


def register_orders():
    """The scouts, digests, curation and idle orders, and what a pause of each lane stops."""
    from opportunities import curation, digests, engagement, idle, orders
    from opscore.lanes import contribute
    from opscore.standing_orders import HANDLERS

    for handlers in (orders, digests, curation, idle, engagement):
        HANDLERS.register_all(handlers.HANDLERS)
    proactive = [*orders.HANDLERS, *digests.HANDLERS, *curation.HANDLERS]
    contribute("proactive", handlers=proactive)
    contribute("idle", handlers=idle.HANDLERS)
    contribute("publishing", handlers=engagement.HANDLERS)  # a paused lane calls no channel


def register_publishing():
    """Posting: the executor, one outbox channel per network (and mail, webhooks), the blockers
    that clear themselves (approval given, block lifted, switch lifted)."""
    from missions.executors import EXECUTORS
    from missions.outbox import CHANNELS, GIVEN_UP, REFUSE_ENDED_THEMSELVES
    from missions.recovery import BLOCKER_CHECKS
    from opportunities import notices, publishing
    from opportunities.channels import ADAPTERS

    CHANNELS.register_all({"email": notices.send_email, "webhook": notices.send_webhook})
    EXECUTORS.register("post_tweet", publishing.run_post_tweet)
    CHANNELS.register_all(dict.fromkeys(ADAPTERS, publishing.deliver_post))
    REFUSE_ENDED_THEMSELVES.register_all(dict.fromkeys(ADAPTERS, True))  # a Publication refused
    GIVEN_UP.register_all(dict.fromkeys(ADAPTERS, publishing.post_given_up))
    held = ("channel_approval", "channel_blocked", "channel_stopped")
    BLOCKER_CHECKS.register_all(dict.fromkeys(held, publishing.held_step_cleared))


def register_edges():
    """What the lane adds to opscore's own registries: its policies, its LLM budget lanes and
    the purposes that spend them, its agent-bus verbs, and the name operators may type for it."""
    from opportunities import agentbus, policies
    from opscore.budgets import LANE_OF_PREFIX, LLM_LANES
    from opscore.lanes import ALIASES
    from opscore.policies import SCHEMAS
    from opscore.registry import AGENTBUS_ACTORS, AGENTBUS_OWNED, AGENTBUS_PARSERS, AGENTBUS_VERBS

    SCHEMAS.register_all(policies.POLICIES)
    AGENTBUS_PARSERS.register("opportunities", agentbus.add_opportunity_verbs)
    AGENTBUS_VERBS.register_all(agentbus.RUNS)
    AGENTBUS_ACTORS.register_all(agentbus.ACTORS)
    AGENTBUS_OWNED.register_all(agentbus.OWNED)
    LLM_LANES.register_all({"proactive": (0.5, 1.0), "idle": (0.2, 0.3)})
    LANE_OF_PREFIX.register_all(
        {"proactive.": "proactive", "idle.": "idle", "opportunity.": "proactive"}
    )
    ALIASES.register("opportunities", "proactive")  # this app's work is the proactive lane


CLOSED = ("rejected", "parked")


def opportunity_subject(opportunity_id: int):
    """Its finder owns its thread; once converted, its mission's prompts see the remarks, and
    it is as closed as its proposal's thread (a rejected proposal becomes no mission)."""
    from missions.threads import Subject, proposal_subject
    from opportunities.models import Opportunity

    opp = Opportunity.objects.select_related("source_agent").filter(pk=opportunity_id).first()
    if opp is None:
        return None
    ours = proposal_subject(opp.proposal_id) if opp.proposal_id else None
    closed = f"O{opp.id} is {opp.status}" if opp.status in CLOSED else (ours.closed if ours else "")
    mission_id = ours.mission_id if ours else None
    return Subject(
        "opportunity", opp.id, f"O{opp.id}", opp.title, opp.source_agent, mission_id, closed
    )


def converted_into(proposal_ids):
    """The opportunities converted into these proposals: a remark on one, written before its
    mission existed, reaches the mission (missions.threads.heard_by)."""
    from opportunities.models import Opportunity

    return Opportunity.objects.filter(proposal_id__in=proposal_ids).values("id")


def idea_untrusted(idea_id: int) -> str:
    from opportunities.models import Idea

    return Idea.objects.filter(pk=idea_id).values_list("untrusted_reason", flat=True).first() or ""


def opp_untrusted(opportunity_id: int) -> str:
    from opportunities.models import Opportunity

    found = Opportunity.objects.filter(pk=opportunity_id)
    return found.values_list("untrusted_reason", flat=True).first() or ""
