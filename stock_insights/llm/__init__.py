"""The LLM gateway: every chat call of the project (forecasts, reports) goes through ``Gateway.ask``.

Budget (a daily cost cap per registry model, one ``SpendLedger`` for every purpose), the answer cache
(table ``llm_cache``), a circuit breaker, retries with a correction, usage and cost. Callers keep their
prompts, their parsing and their own judging (``Judgement``). No Dagster here.
"""

from stock_insights.llm.breaker import CircuitBreaker
from stock_insights.llm.cache import (
    AnswerCache,
    CachedAnswer,
    MemoryAnswerCache,
    SqlLLMCache,
    cache_key,
    canonical_json,
)
from stock_insights.llm.client import ClientFactory, default_client_factory
from stock_insights.llm.counters import COUNTER_KINDS, COUNTERS, FAILURE_KINDS, LLMCounters
from stock_insights.llm.errors import (
    CostCapReached,
    LLMAnswerError,
    LLMCallError,
    LLMCircuitOpen,
    LLMConfigurationError,
    LLMError,
    describe_api_error,
)
from stock_insights.llm.gateway import (
    Answer,
    AttemptContext,
    CallUsage,
    Failure,
    Gateway,
    Judgement,
    LLMRequest,
    correct_structured,
    describe_validation_error,
    parse_json_object,
)
from stock_insights.llm.spend import (
    MemorySpendLedger,
    SpendLedger,
    SqlSpendLedger,
    kst_day,
    kst_day_bounds,
)

__all__ = [
    "COUNTERS",
    "COUNTER_KINDS",
    "FAILURE_KINDS",
    "Answer",
    "AnswerCache",
    "AttemptContext",
    "CachedAnswer",
    "CallUsage",
    "CircuitBreaker",
    "ClientFactory",
    "CostCapReached",
    "Failure",
    "Gateway",
    "Judgement",
    "LLMAnswerError",
    "LLMCallError",
    "LLMCircuitOpen",
    "LLMConfigurationError",
    "LLMCounters",
    "LLMError",
    "LLMRequest",
    "MemoryAnswerCache",
    "MemorySpendLedger",
    "SpendLedger",
    "SqlLLMCache",
    "SqlSpendLedger",
    "cache_key",
    "canonical_json",
    "correct_structured",
    "default_client_factory",
    "describe_api_error",
    "describe_validation_error",
    "kst_day",
    "kst_day_bounds",
    "parse_json_object",
]
