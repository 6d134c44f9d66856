"""The KIS stock master client as a Dagster resource (KIS_MASTER_BASE_URL in the definitions)."""

import dagster as dg
from pydantic import Field

from stock_insights.clients.kis.master import MasterClient
from stock_insights.settings import get_settings


class KisMasterResource(dg.ConfigurableResource):
    """Downloads of ``kospi_code.mst.zip`` and ``kosdaq_code.mst.zip`` from ``base_url``."""

    base_url: str = Field(default="https://new.real.download.dws.co.kr", description="KIS_MASTER_BASE_URL.")

    def client(self, *, max_attempts: int = 3) -> MasterClient:
        return MasterClient(self.base_url, max_attempts=max_attempts)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"kis_master": KisMasterResource(base_url=get_settings().KIS_MASTER_BASE_URL)})
