"""The KIS stock master client as a Dagster resource (KIS_MASTER_BASE_URL from the settings)."""

import dagster as dg

from stock_insights.clients.kis.master import MasterClient
from stock_insights.settings import get_settings


class KisMasterResource(dg.ConfigurableResource):
    """Downloads of ``kospi_code.mst.zip`` and ``kosdaq_code.mst.zip``."""

    def client(self, *, max_attempts: int = 3) -> MasterClient:
        return MasterClient(get_settings().KIS_MASTER_BASE_URL, max_attempts=max_attempts)


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"kis_master": KisMasterResource()})
