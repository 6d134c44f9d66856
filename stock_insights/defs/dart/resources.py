"""The OpenDART client as a Dagster resource; DART_API_KEY is read when the client is built."""

import dagster as dg
from pydantic import Field

from stock_insights.clients.dart import DartClient
from stock_insights.settings import get_settings


class DartResource(dg.ConfigurableResource):
    """OpenDART (DART_BASE_URL, DART_API_KEY)."""

    # No per-second limit is published, but ~1,000 a minute reportedly gets the IP blocked for a day.
    requests_per_second: int = Field(default=5, ge=1, le=100, description="Request budget per second.")

    def client(self) -> DartClient:
        settings = get_settings()
        return DartClient(settings.DART_BASE_URL, settings.DART_API_KEY, requests_per_second=self.requests_per_second)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dart": DartResource()})
