"""Engagement numbers for posts, from the CLI, the API or a channel plug-in."""

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from missions.models import ContentMetric, Publication
from missions.schemas import ProposalInvalid, field_errors

MAX_COUNT = 2**31 - 1  # ContentMetric's PositiveIntegerField: past it Postgres refuses (a 500)


class MetricInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    post_ref: str = Field(min_length=1, max_length=200)
    impressions: int = Field(ge=0, le=MAX_COUNT)
    engagements: int = Field(ge=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _not_more_engagements_than_impressions(self):
        if self.engagements > self.impressions:
            raise ValueError("engagements cannot exceed impressions")
        return self


def record_metric(data: dict) -> ContentMetric:
    try:
        metric = MetricInput.model_validate(data)
    except ValidationError as error:
        raise ProposalInvalid(field_errors(error)) from None
    publication = Publication.objects.filter(external_id=metric.post_ref).first()
    if publication is None:  # a typo would feed the trigger a post nobody published
        raise ProposalInvalid(
            {"post_ref": [f"no published post has the id {metric.post_ref!r} (its external id)"]}
        )
    rate = metric.engagements / metric.impressions if metric.impressions else 0.0
    return ContentMetric.objects.create(
        publication=publication,
        post_ref=metric.post_ref,
        impressions=metric.impressions,
        engagements=metric.engagements,
        engagement_rate=rate,
    )
