"""Engagement numbers a client sends are checked against what their columns hold: past that
they are a 400 naming the field, never a database error."""

import pytest

from missions.models import ContentMetric

pytestmark = pytest.mark.django_db
TOKEN = "metric-token-0123456789-0123456789"


@pytest.mark.parametrize("count", [2**31, 10**30])
def test_a_count_past_the_column_is_a_400(client, settings, count):
    settings.OPS_API_TOKEN = TOKEN
    body = {"post_ref": "x-1", "impressions": count, "engagements": 1}

    response = client.post(
        "/api/ops/metrics",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )

    assert response.status_code == 400
    assert "impressions" in response.json()["errors"]
    assert not ContentMetric.objects.exists()
