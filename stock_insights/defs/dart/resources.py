"""The OpenDART client as a Dagster resource; DART_API_KEY is ``dg.EnvVar`` in the definitions."""

import dagster as dg
from pydantic import Field, SecretStr

from stock_insights.clients.dart import DartClient
from stock_insights.defs.resources import from_env, secret
from stock_insights.settings import Settings, get_settings


class DartResource(dg.ConfigurableResource):
    """OpenDART at ``base_url`` with ``api_key`` (the crtfc_key)."""

    base_url: str = Field(default="https://opendart.fss.or.kr", description="DART_BASE_URL.")
    api_key: str = secret("DART_API_KEY (crtfc_key).")
    # No per-second limit is published, but ~1,000 a minute reportedly gets the IP blocked for a day.
    requests_per_second: int = Field(default=5, ge=1, le=100, description="Request budget per second.")

    def client(self) -> DartClient:
        return DartClient(self.base_url, SecretStr(self.api_key), requests_per_second=self.requests_per_second)


def dart_resource(settings: Settings) -> DartResource:
    return DartResource(base_url=settings.DART_BASE_URL, api_key=from_env(settings, "DART_API_KEY"))


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"dart": dart_resource(get_settings())})
