"""A review is the record of who decided what about an opportunity: deleting the opportunity
from code must not take it along. The admin never deletes opportunities; the database refuses
too (PROTECT), as for trigger skips."""

import pytest
from django.db.models import ProtectedError

from opportunities.models import Opportunity, OpportunityReview
from tests.factories import make_opportunity

pytestmark = pytest.mark.django_db


def test_the_database_keeps_the_reviews_when_code_deletes_their_opportunity(agent):
    opportunity = make_opportunity(agent)
    opportunity.decide("triaged", "ana", "worth a look")

    with pytest.raises(ProtectedError):
        opportunity.delete()
    with pytest.raises(ProtectedError):
        Opportunity.objects.filter(pk=opportunity.pk).delete()

    assert OpportunityReview.objects.get().opportunity_id == opportunity.pk
