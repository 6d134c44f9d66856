"""The gateway's errors. Messages never contain a key."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai import APIError

    from stock_insights.llm.gateway import CallUsage


class LLMError(RuntimeError):
    """Base of the gateway's errors."""


class LLMConfigurationError(LLMError):
    """The model cannot be called as configured (a key is not set)."""


class CostCapReached(LLMError):
    """The model's daily cost cap would be exceeded by the next call; it stops until the next KST day."""

    def __init__(self, model: str, *, spent_usd: float, cap_usd: float, next_call_usd: float, day: date) -> None:
        self.model = model
        self.spent_usd = spent_usd
        self.cap_usd = cap_usd
        self.next_call_usd = next_call_usd
        self.day = day
        super().__init__(
            f"model {model} stopped: daily cost cap ${cap_usd:.2f} reached for {day.isoformat()} (KST): "
            f"${spent_usd:.4f} spent, the next call could cost up to ${next_call_usd:.4f}. No call was made; "
            "it runs again tomorrow or with a higher daily_cost_cap_usd in the model registry."
        )


class LLMAnswerError(LLMError):
    """No valid answer within ``max_attempts`` calls, or (``replay``) a rejection replayed from the cache."""

    def __init__(
        self,
        model: str,
        failures: list[tuple[str, str]],
        usage: CallUsage,
        *,
        record: dict[str, Any] | None = None,
        replay: bool = False,
    ) -> None:
        self.model = model
        self.failures = failures
        self.usage = usage
        self.record = record or {}
        self.replay = replay
        kinds = ", ".join(kind for kind, _ in failures)
        last = failures[-1][1] if failures else ""
        what = "replayed a rejected answer" if replay else f"gave no valid answer in {len(failures)} attempt(s)"
        super().__init__(f"model {model} {what} ({kinds}); last: {last}")

    @property
    def last_detail(self) -> str:
        return self.failures[-1][1] if self.failures else str(self)


class LLMCallError(LLMError):
    """The API refused or failed after the SDK's own retries (bad request, auth, persistent 429/5xx)."""


class LLMCircuitOpen(LLMCallError):
    """``failures`` consecutive calls of the model failed: the gateway calls it no more in this run."""

    def __init__(self, model: str, *, failures: int, last: str) -> None:
        self.model = model
        self.failures = failures
        self.last = last
        super().__init__(
            f"model {model}: circuit open after {failures} consecutive failed call(s) (last: {last}); "
            "no more calls to this model in this run (LLM_BREAKER_FAILURES)"
        )


def describe_api_error(exc: APIError, limit: int = 300) -> str:
    """What failed, for errors and metadata. The server's explanation helps with a 400 (a schema the
    provider refuses); for 401/403 it may quote a masked key, so it is left to the chained exception."""
    status = getattr(exc, "status_code", None)
    reason = f": {exc.message[:limit]}" if status not in (None, 401, 403) else ""
    return (
        f"the API call failed after the SDK's retries: {type(exc).__name__}"
        + (f" (HTTP {status})" if status else "")
        + reason
    )
