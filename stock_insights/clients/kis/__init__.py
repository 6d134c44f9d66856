"""KIS Open API (한국투자증권): the client and its typed rows."""

from stock_insights.clients.kis.client import (
    CachedToken,
    KisClient,
    KisError,
    MemoryTokenStore,
    TokenStore,
)
from stock_insights.clients.kis.rows import (
    DailyBarRow,
    DailyChart,
    FinancialRow,
    IndexBarRow,
    MinuteBarRow,
    OrderBook,
)

__all__ = [
    "CachedToken",
    "DailyBarRow",
    "DailyChart",
    "FinancialRow",
    "IndexBarRow",
    "KisClient",
    "KisError",
    "MemoryTokenStore",
    "MinuteBarRow",
    "OrderBook",
    "TokenStore",
]
