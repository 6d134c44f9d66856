"""The model registry: which forecasting models exist and how to call them, read from YAML.

The packaged ``models.yaml`` is the default; ``MODEL_REGISTRY_PATH`` points at another file.
String values may say ``${VAR}`` or ``${VAR:-default}`` to take a value from the environment (a
model id, a local base URL). Keys never go in the file: an entry names the environment variable
holding its key (``api_key_env``, for ``openai_compatible``); ``openai`` and ``openrouter`` use the
settings' ``OPENAI_API_KEY`` and ``OPENROUTER_API_KEY``.
"""

from __future__ import annotations

import os
import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stock_insights.predictors.prompts import PROMPTS, PromptOptions

Provider = Literal["baseline", "openai", "openrouter", "openai_compatible"]
ResponseMode = Literal["json_schema", "json_object"]
LLM_PROVIDERS: tuple[str, ...] = ("openai", "openrouter", "openai_compatible")
REGISTRY_ENV = "MODEL_REGISTRY_PATH"

# Names go into predictions.model (String(50)) and URLs: keep them short and plain.
_NAME = r"^[a-z0-9][a-z0-9_.-]{0,49}$"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Field names that would mean a secret was written into the file.
_SECRET_FIELDS = {"api_key", "apikey", "key", "token", "secret", "password", "authorization"}
_LLM_ONLY = ("model", "prompt_version", "response_mode", "parameters", "prices", "daily_cost_cap_usd")
# A training cutoff: the last month of the model's training data, or "unknown" (no forecast counts as unseen).
_CUTOFF = r"^(\d{4}-(0[1-9]|1[0-2])|unknown)$"
UNKNOWN_CUTOFF = "unknown"


def first_unseen_day(training_cutoff: str) -> date | None:
    """The first day after a ``YYYY-MM`` training cutoff (the 1st of the next month): a forecast whose target day
    is on or after it asks about a day the model cannot have read. None for ``unknown``."""
    if training_cutoff == UNKNOWN_CUTOFF:
        return None
    year, month = (int(part) for part in training_cutoff.split("-"))
    return date(year + month // 12, month % 12 + 1, 1)


class RegistryError(ValueError):
    """The registry file is missing, not YAML, or not a valid registry. Never carries a secret value."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(_Strict):
    """USD per one million tokens (a versioned price table lives with the entry that uses it)."""

    input_per_million: float = Field(ge=0)
    cached_input_per_million: float | None = Field(default=None, ge=0)  # None: same as input
    output_per_million: float = Field(ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        cached = min(cached_tokens, prompt_tokens)
        cached_price = self.cached_input_per_million
        if cached_price is None:
            cached_price = self.input_per_million
        return (
            (prompt_tokens - cached) * self.input_per_million
            + cached * cached_price
            + completion_tokens * self.output_per_million
        ) / 1_000_000


class GenerationParameters(_Strict):
    """Sent with every request (and part of the answer-cache key). None means "not sent"."""

    temperature: float | None = Field(default=0.0, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    max_tokens: int = Field(default=1024, ge=64, le=32_768)

    def request_kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PromptSettings(_Strict):
    """How much of a stock's input is rendered into the prompt (see ``prompts.PromptOptions``)."""

    price_window: int = Field(default=20, ge=1, le=250)
    max_documents: int = Field(default=12, ge=0, le=100)
    excerpt_chars: int = Field(default=600, ge=0, le=10_000)
    max_financial_lines: int = Field(default=24, ge=0, le=200)

    def options(self) -> PromptOptions:
        return PromptOptions(**self.model_dump())


class OpenRouterOptions(_Strict):
    """OpenRouter routing and attribution. Fallbacks stay off: an A/B arm must be one model."""

    provider_order: list[str] = Field(default_factory=list)  # e.g. ["deepseek"]: pin the upstream provider
    allow_fallbacks: Literal[False] = False
    require_parameters: bool = True  # only providers that honour response_format
    referer: str = "https://github.com/stock-insights/stock_insights"  # HTTP-Referer
    title: str = "stock_insights"  # X-Title

    def extra_body(self) -> dict[str, Any]:
        routing: dict[str, Any] = {
            "allow_fallbacks": self.allow_fallbacks,
            "require_parameters": self.require_parameters,
        }
        if self.provider_order:
            routing["order"] = list(self.provider_order)
        return {"provider": routing}

    def headers(self) -> dict[str, str]:
        return {"HTTP-Referer": self.referer, "X-Title": self.title}


class ModelEntry(_Strict):
    name: str = Field(pattern=_NAME)
    provider: Provider
    enabled: bool = True
    description: str = ""
    # The last month of the training data ("YYYY-MM", or "unknown"); an LLM without one is "unknown". A baseline
    # has none (null): it is fitted on nothing, so no forecast of it can repeat a memorised outcome.
    training_cutoff: str | None = Field(default=None, pattern=_CUTOFF)
    # --- LLM entries ---------------------------------------------------------------------------
    model: str | None = Field(default=None, min_length=1, max_length=100)  # the provider's model id
    prompt_version: str | None = None
    response_mode: ResponseMode | None = None
    parameters: GenerationParameters | None = None
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    prices: Prices | None = None
    daily_cost_cap_usd: float | None = Field(default=None, ge=0)
    max_attempts: int = Field(default=3, ge=1, le=10)  # invalid, truncated or refused answers
    sdk_max_retries: int = Field(default=4, ge=0, le=10)  # 408/409/429/5xx, retried by the SDK with backoff
    timeout_seconds: float = Field(default=60.0, gt=0, le=600)
    base_url: str | None = None  # openai_compatible only
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")  # openai_compatible only
    openrouter: OpenRouterOptions | None = None  # openrouter only
    # --- baselines ------------------------------------------------------------------------------
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, value: Any) -> Any:
        if isinstance(value, dict):
            secret = sorted(k for k in value if str(k).lower().replace("-", "_") in _SECRET_FIELDS)
            if secret:
                # The value itself is never repeated: this message ends up in logs.
                raise ValueError(
                    f"field(s) {secret} look like a secret; keys never go in the registry "
                    "(use api_key_env, or OPENAI_API_KEY / OPENROUTER_API_KEY in the environment)"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ModelEntry:
        """One entry type holds both baselines and LLMs, so which fields apply depends on ``provider``:
        a field set where it does nothing is refused rather than silently ignored."""
        if self.provider == "baseline":
            self._check_baseline()
            return self
        self._check_llm_fields()
        self._check_endpoint()
        self._fill_llm_defaults()
        return self

    def _check_baseline(self) -> None:
        given = [f for f in (*_LLM_ONLY, "base_url", "api_key_env", "openrouter") if getattr(self, f) is not None]
        if given:
            raise ValueError(f"a baseline takes no {given}; put its settings under options")
        if self.training_cutoff is not None:
            raise ValueError("a baseline learns nothing: its training_cutoff must be null")

    def _check_llm_fields(self) -> None:
        """What every LLM entry needs (``parameters`` has a default), and no baseline ``options``."""
        missing = [f for f in _LLM_ONLY if f != "parameters" and getattr(self, f) is None]
        if missing:
            raise ValueError(f"an {self.provider} model needs {missing}")
        if self.prompt_version not in PROMPTS:
            raise ValueError(f"unknown prompt_version {self.prompt_version!r}; known: {sorted(PROMPTS)}")
        if self.options:
            raise ValueError("options are for baselines; an LLM entry takes parameters")

    def _check_endpoint(self) -> None:
        """Only openai_compatible names its endpoint and key here; openai and openrouter take theirs
        from the settings, and only openrouter takes routing options."""
        if self.provider == "openai_compatible":
            if not self.base_url:
                raise ValueError("an openai_compatible model needs base_url (e.g. http://127.0.0.1:8000/v1)")
        elif self.base_url or self.api_key_env:
            raise ValueError(
                f"base_url and api_key_env are for openai_compatible; {self.provider} uses "
                f"{'OPENAI' if self.provider == 'openai' else 'OPENROUTER'}_BASE_URL and _API_KEY from the settings"
            )
        if self.openrouter is not None and self.provider != "openrouter":
            raise ValueError("openrouter options are for provider openrouter")

    def _fill_llm_defaults(self) -> None:
        """Defaults filled after validation so callers never meet None (the model is frozen)."""
        if self.provider == "openrouter" and self.openrouter is None:
            object.__setattr__(self, "openrouter", OpenRouterOptions())
        if self.parameters is None:
            object.__setattr__(self, "parameters", GenerationParameters())
        if self.training_cutoff is None:
            object.__setattr__(self, "training_cutoff", UNKNOWN_CUTOFF)

    @property
    def is_llm(self) -> bool:
        return self.provider in LLM_PROVIDERS


class ModelRegistry(_Strict):
    version: Literal[1] = 1
    models: list[ModelEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ModelRegistry:
        names = [m.name for m in self.models]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"model names must be unique; repeated: {duplicated}")
        return self

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.models]

    def get(self, name: str) -> ModelEntry:
        for entry in self.models:
            if entry.name == name:
                return entry
        raise KeyError(f"unknown model {name!r}; known: {self.names}")

    def training_cutoffs(self) -> dict[str, str | None]:
        """Every model's training cutoff by name: ``YYYY-MM``, ``unknown``, or None (a baseline: learns nothing)."""
        return {m.name: m.training_cutoff for m in self.models}

    def enabled(self, *, llm: bool | None = None) -> list[ModelEntry]:
        """Enabled entries; ``llm=True`` only LLMs, ``llm=False`` only baselines."""
        return [m for m in self.models if m.enabled and (llm is None or m.is_llm == llm)]


def _expand(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _expand(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found:
            return found
        if default is not None:
            return default
        raise RegistryError(f"{where}: ${{{name}}} is not set and has no default (write ${{{name}:-value}})")

    return _ENV_REF.sub(substitute, value)


def _describe(errors: list[Any], raw: Any) -> str:
    """Pydantic errors as lines a person can act on, with entry names and without input values."""
    lines = []
    for error in errors:
        loc = list(error["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
            try:
                entry_name = raw["models"][loc[1]].get("name", "?")
            except (KeyError, IndexError, TypeError, AttributeError):
                entry_name = "?"
            where = f"models[{loc[1]}] ({entry_name})"
            loc = loc[2:]
        # Tagged unions and validators add non-field parts to the location; keep only field names.
        path = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "model-")))
        where = ".".join(p for p in (where, path) if p) or "registry"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def parse_registry(raw: Any, source: str = "<registry>") -> ModelRegistry:
    if not isinstance(raw, dict):
        raise RegistryError(f"model registry {source}: expected a mapping with 'version' and 'models'")
    expanded = _expand(raw, "registry")
    try:
        return ModelRegistry.model_validate(expanded)
    except ValidationError as exc:
        raise RegistryError(f"model registry {source} is invalid:\n{_describe(exc.errors(), expanded)}") from None


def default_registry_path() -> Path:
    return Path(str(resources.files("stock_insights.predictors").joinpath("models.yaml")))


def load_registry(path: str | os.PathLike[str] | None = None) -> ModelRegistry:
    """Read and validate the registry: ``path``, else ``$MODEL_REGISTRY_PATH``, else the packaged file."""
    chosen = Path(path or os.environ.get(REGISTRY_ENV) or default_registry_path())
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(f"model registry {chosen} not found (set {REGISTRY_ENV} or pass a path)") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"model registry {chosen} is not valid YAML: {exc}") from None
    return parse_registry(raw, str(chosen))
