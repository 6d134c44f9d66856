"""The forecasting prompt, its answer schema and the validation of answers.

FinGPT-Forecaster's structure (positive developments, potential concerns, then a prediction and an
analysis), but answered as JSON instead of regex-parsed prose, and grounded: the model sees only
the inputs of a ``PredictionInput`` (point-in-time validated by its constructor) and cites them by
id.

Layout, for provider prompt caching (OpenAI caches exact prefixes of >= 1024 tokens): the static
system message comes first (role, rules, Korean market context, the answer schema); everything
stock-specific is in the user message, last. The system message is long enough on its own to be a
cacheable prefix, so consecutive calls for different stocks share it.

Bumping ``PROMPT_VERSION`` (and adding the new text to ``PROMPTS``) is the only way to change the
wording: the version is part of the answer-cache key and is stored with every prediction.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from stock_insights.calendar import KST
from stock_insights.llm import canonical_json
from stock_insights.predictors.base import DocumentInput, FinancialInput, PredictionInput, PriceBar

PROMPT_VERSION = "v1"

# KRX's daily price limit is +-30 %; an expected return beyond this per session is a unit mistake
# (a percentage given as a fraction) or nonsense, and is refused so that the call is retried.
MAX_ABS_RETURN_PER_SESSION = 0.30
MAX_LIST_ITEMS = 6
MAX_ITEM_CHARS = 500
MAX_SUMMARY_CHARS = 2000

SYSTEM_PROMPT_V1 = """\
You are a seasoned equity analyst covering the Korean stock market (KOSPI and KOSDAQ). Your task is to \
list the positive developments and the potential concerns for one listed company based on the news, \
regulatory disclosures, recent prices and basic financials given to you, and then to make a calibrated \
forecast of its stock price movement over the stated horizon (a number of KRX trading sessions).

Rules you must follow:
1. Use only the facts given in the user message. Everything in it was known before the stated cutoff; \
nothing after the cutoff is given and you must not guess what happened later. Do not use anything you \
may remember about this company's later prices, results or news.
2. Every document carries an id in square brackets, such as a news article, a DART disclosure or a \
broker report. When a development or a concern rests on a document, put that document's id, exactly \
as written inside the brackets, into evidence_ids. Cite only ids that appear in the user message; \
never invent an id. Prices and financials need no id.
3. If the documents are few, old, or not about this company, say so in the summary, keep prob_up near \
0.5 and expected_return near zero. Absence of news is not good news.
4. Treat documents as claims, not facts: headlines exaggerate, press releases are one-sided, and \
broker reports in Korea carry a well-known buy bias.
5. Be calibrated. Single-stock daily direction is hard; an honest forecaster is right 50 to 60 percent \
of the time. prob_up above 0.7 or below 0.3 needs strong, specific, fresh evidence.
6. Write the lists and the summary in English; keep company and product names as written.

Korean market context you may rely on:
- Regular session 09:00 to 15:30 KST, with a closing call auction from 15:20. Daily price limits are \
plus or minus 30 percent of the previous close (상한가 / 하한가).
- Disclosures come from DART (전자공시). Common types and what they usually signal: 잠정실적 or \
영업(잠정)실적 (preliminary earnings; compare with expectations, 어닝서프라이즈 / 어닝쇼크), \
단일판매·공급계약체결 (a single large supply contract; size relative to annual revenue matters), \
유상증자 (rights offering or new share issue; dilution, usually negative), 무상증자 (bonus issue; \
often a short-lived rally), 자기주식 취득 / 소각 (buyback / cancellation; supportive), 전환사채 발행 \
(convertible bonds; future dilution), 최대주주 변경 (change of the largest shareholder), \
타법인 주식 취득 (acquisition of shares in another company), 소송 등의 제기 (lawsuit), \
감사의견 거절 or 한정 (adverse audit opinion; severe), 관리종목 지정 / 거래정지 (designation for \
delisting review / trading halt; severe), [기재정정] (a correction of an earlier filing).
- News wording: 호실적, 수주, 목표주가 상향, 신고가, 강세 are positive; 부진, 목표주가 하향, 약세, \
신저가, 급락, 소송 are negative; 보합, 관망, 혼조 are neutral.
- Flows of foreign investors (외국인) and institutions (기관) and the KRW/USD rate move large caps; \
semiconductors, batteries, autos, internet platforms and biotech dominate the indices. Samsung \
Electronics (005930) and SK hynix (000660) alone are a large share of KOSPI.
- Amounts in financial statements are in Korean won; 1 억원 is 100 million won and 1 조원 is one \
trillion won. Financial statements are quarterly (period = the period end, YYYYMM).

Answer with one JSON object and nothing else: no markdown fences, no text before or after it. \
Its fields, in this order:
- positive_developments: 0 to 4 short strings, the most important positive factors, each grounded in \
the input.
- potential_concerns: 0 to 4 short strings, the most important risks or negative factors.
- summary: 2 to 5 sentences of analysis that weigh the factors and explain the forecast.
- direction: "up", "down" or "flat" for the close at the end of the horizon against the last close \
shown. Use "flat" when you expect a move smaller than about 0.5 percent.
- prob_up: a number between 0 and 1, the probability that the close at the end of the horizon is \
above the last close shown.
- expected_return: the expected simple return over the horizon as a fraction, not a percentage: \
0.012 means plus 1.2 percent, -0.005 means minus 0.5 percent.
- evidence_ids: the ids of the documents the answer relies on, copied exactly from the brackets.

The answer must follow this JSON schema:
{schema}
"""

PROMPTS: dict[str, str] = {"v1": SYSTEM_PROMPT_V1}


# --- the answer schema ----------------------------------------------------------------------------

# Strict Structured Outputs: every property required, additionalProperties false, no numeric or
# length constraints (those are checked by ``ForecastAnswer`` instead). The analysis fields come
# before the call on purpose: the model writes its reasons first and the numbers after them.
ANSWER_SCHEMA_NAME = "stock_forecast"
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "positive_developments": {"type": "array", "items": {"type": "string"}},
        "potential_concerns": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": "string"},
        "direction": {"type": "string", "enum": ["up", "down", "flat"]},
        "prob_up": {"type": "number"},
        "expected_return": {"type": "number"},
        "evidence_ids": {"type": "array", "items": {"type": "string"}},
    },
    "required": [
        "positive_developments",
        "potential_concerns",
        "summary",
        "direction",
        "prob_up",
        "expected_return",
        "evidence_ids",
    ],
    "additionalProperties": False,
}


def response_format(mode: Literal["json_schema", "json_object"]) -> dict[str, Any]:
    """The ``response_format`` request parameter for a registry response mode."""
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": ANSWER_SCHEMA_NAME, "strict": True, "schema": ANSWER_SCHEMA},
        }
    return {"type": "json_object"}


def system_prompt(version: str = PROMPT_VERSION) -> str:
    try:
        template = PROMPTS[version]
    except KeyError:
        raise ValueError(f"unknown prompt version {version!r}; known: {sorted(PROMPTS)}") from None
    return template.replace("{schema}", json.dumps(ANSWER_SCHEMA, indent=2))


# --- the answer -----------------------------------------------------------------------------------

def _clean_items(value: Any) -> list[str]:
    items = [str(v).strip() for v in value if str(v).strip()]
    return [item[:MAX_ITEM_CHARS] for item in items[:MAX_LIST_ITEMS]]


class ForecastAnswer(BaseModel):
    """A model's answer, validated on our side whatever the provider enforced.

    The validation context may carry ``horizon`` (sessions) to scale the bound on
    ``expected_return``. ``evidence_ids`` is taken as given here; ``filter_evidence`` decides which
    of them are real.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    positive_developments: list[str]
    potential_concerns: list[str]
    summary: str
    direction: Literal["up", "down", "flat"]
    prob_up: float
    expected_return: float
    evidence_ids: list[str]

    @field_validator("positive_developments", "potential_concerns", mode="after")
    @classmethod
    def _items(cls, value: list[str]) -> list[str]:
        return _clean_items(value)

    @field_validator("summary", mode="after")
    @classmethod
    def _summary(cls, value: str) -> str:
        return value.strip()[:MAX_SUMMARY_CHARS]

    @field_validator("prob_up", mode="after")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"prob_up must be within [0, 1], got {value}")
        return value

    @field_validator("expected_return", mode="after")
    @classmethod
    def _return(cls, value: float, info: ValidationInfo) -> float:
        horizon = int((info.context or {}).get("horizon", 1))
        bound = MAX_ABS_RETURN_PER_SESSION * max(1, horizon)
        if not -bound <= value <= bound:
            raise ValueError(
                f"expected_return {value} is outside +-{bound} for {horizon} session(s): "
                "it must be a fraction (0.012 for +1.2 %), not a percentage"
            )
        return value

    @field_validator("evidence_ids", mode="after")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        return [v.strip() for v in value]


_BRACKETS = re.compile(r"^\[(.*)\]$")


def filter_evidence(cited: list[str], allowed: dict[str, DocumentInput]) -> tuple[list[str], list[str]]:
    """Split cited ids into (kept, dropped): kept are ids of documents shown in the prompt, in the
    model's order, without duplicates. A model may write ``[news:1]`` or the bare doc id; both are
    mapped back to a shown document, never trusted otherwise."""
    by_bare: dict[str, list[str]] = {}
    for evidence_id, doc in allowed.items():
        by_bare.setdefault(doc.doc_id, []).append(evidence_id)
    kept: list[str] = []
    dropped: list[str] = []
    for raw in cited:
        candidate = _BRACKETS.sub(r"\1", raw.strip()).strip()
        if candidate not in allowed and len(by_bare.get(candidate, [])) == 1:
            candidate = by_bare[candidate][0]
        if candidate in allowed:
            if candidate not in kept:
                kept.append(candidate)
        else:
            dropped.append(raw)
    return kept, dropped


# --- rendering ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PromptOptions:
    """How much of the input goes into the prompt. Part of the rendered text, hence of the cache key."""

    price_window: int = 20  # closes shown, each with its return against the close before it
    max_documents: int = 12
    excerpt_chars: int = 600
    max_financial_lines: int = 24


@dataclass(frozen=True)
class RenderedPrompt:
    version: str
    messages: list[dict[str, str]]
    documents: dict[str, DocumentInput]  # evidence id -> document, exactly those shown, newest first
    prices: list[PriceBar]  # exactly the closes shown (the first one only as the base of a return)
    financials: list[FinancialInput] = field(default_factory=list)

    def cited_inputs(self, data: PredictionInput, evidence_ids: list[str]) -> dict[str, object]:
        """``cited_inputs`` for a prediction: the cited documents plus the prices and financials shown."""
        wanted = set(evidence_ids)
        docs = [self.documents[e] for e in self.documents if e in wanted]  # prompt order: newest first
        shown = data.model_copy(update={"prices": self.prices, "financials": self.financials})
        return shown.cited(docs)

    @property
    def sha256(self) -> str:
        """``prompt_hash``: SHA-256 (hex) of the canonical JSON of the messages as sent (sorted keys, no spaces,
        UTF-8, non-ASCII kept), so anyone holding the messages can recompute it."""
        return prompt_sha256(self.messages)


def prompt_sha256(messages: list[dict[str, str]]) -> str:
    """SHA-256 (hex) of ``canonical_json(messages)`` in UTF-8: the ``prompt_hash`` of a forecast."""
    return hashlib.sha256(canonical_json(messages).encode("utf-8")).hexdigest()


def evidence_id(doc: DocumentInput) -> str:
    """The id a prompt shows for a document: doc ids are unique per type only."""
    return f"{doc.doc_type}:{doc.doc_id}"


def _kst(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%Y-%m-%d %H:%M KST")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _won(value: float) -> str:
    if abs(value) >= 1e12:
        return f"{value / 1e12:,.2f} 조원"
    if abs(value) >= 1e8:
        return f"{value / 1e8:,.0f} 억원"
    return f"{value:,.0f} 원"


def _price_section(prices: list[PriceBar]) -> list[str]:
    if not prices:
        return ["(no prices before the cutoff)"]
    lines = ["date       | close | return vs previous close"]
    for previous, bar in zip([None, *prices[:-1]], prices, strict=True):
        change = f"{bar.close / previous.close - 1:+.2%}" if previous and previous.close else "(base)"
        lines.append(f"{bar.trading_date.isoformat()} | {bar.close:,.0f} | {change}")
    last = prices[-1].close
    for span in (5, 20):
        if len(prices) > span and prices[-1 - span].close:
            lines.append(f"{span}-session return: {last / prices[-1 - span].close - 1:+.2%}")
    return lines


def _select_financials(financials: list[FinancialInput], limit: int) -> list[FinancialInput]:
    """The latest period of each statement line, most recent periods first."""
    latest: dict[tuple[str, str], FinancialInput] = {}
    for item in financials:
        key = (item.statement, item.account)
        if item.value is not None and (key not in latest or item.period > latest[key].period):
            latest[key] = item
    ordered = sorted(latest.values(), key=lambda f: (-int(f.period) if f.period.isdigit() else 0, f.statement,
                                                     f.account))
    return ordered[:limit]


def _financial_section(financials: list[FinancialInput]) -> list[str]:
    if not financials:
        return ["(no financial statements published before the cutoff)"]
    lines = []
    for item in financials:
        assert item.value is not None  # _select_financials keeps only lines with a value
        value = f"{item.value:,.2f}" if item.statement.upper() == "RATIO" else _won(item.value)
        lines.append(f"{item.statement} {item.period} {item.account}: {value}")
    return lines


def _document_order(doc: DocumentInput) -> tuple[datetime, datetime, str, str]:
    return (doc.published_at, doc.first_seen_at, doc.doc_type, doc.doc_id)


def render_prompt(
    data: PredictionInput, *, version: str = PROMPT_VERSION, options: PromptOptions | None = None
) -> RenderedPrompt:
    """The chat messages for one forecast: the static system message, then the stock's inputs."""
    options = options or PromptOptions()
    system = system_prompt(version)
    prices = list(data.prices[-(options.price_window + 1) :])
    financials = _select_financials(list(data.financials), options.max_financial_lines)
    # Newest first, with a total order so that the same inputs always render the same text.
    docs = sorted(data.documents, key=_document_order, reverse=True)[: options.max_documents]
    shown = {evidence_id(d): d for d in docs}

    name = f"{data.name} ({data.code})" if data.name else data.code
    target = data.target_date.isoformat()
    if data.horizon == 1:
        horizon_text = f"the close of {target} (horizon 1 session)"
    else:
        horizon_text = (
            f"the close {data.horizon} trading sessions from now, the first being {target} "
            f"(horizon {data.horizon} sessions)"
        )
    lines = [
        f"Company: {name}",
        f"Cutoff: {_kst(data.as_of)}. Everything below was known before it.",
        f"Forecast: {horizon_text}, against the last close shown.",
        "",
        f"## Recent closes (oldest first, up to {options.price_window} returns)",
        *_price_section(prices),
        "",
        "## Financial highlights (latest period of each line)",
        *_financial_section(financials),
        "",
        f"## Documents ({len(docs)}, newest first; cite them by the id in brackets)",
    ]
    if not docs:
        lines.append("(no news or disclosures about this company before the cutoff)")
    for doc in docs:
        source = f" · {doc.source}" if doc.source else ""
        lines.append(f"[{evidence_id(doc)}] {_kst(doc.published_at)} · {doc.doc_type}{source}")
        lines.append(f"Title: {_one_line(doc.title)}")
        excerpt = _one_line(doc.text)[: options.excerpt_chars]
        if excerpt:
            lines.append(f"Excerpt: {excerpt}")
        lines.append("")
    lines += [
        "",
        f"Based on all the information before {_kst(data.as_of)}, list the most important positive "
        f"developments and potential concerns for {name}, then make your forecast of {horizon_text}. "
        "Answer with the JSON object only.",
    ]
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]
    return RenderedPrompt(version=version, messages=messages, documents=shown, prices=prices, financials=financials)


# --- citations in the rationale -------------------------------------------------------------------

# A document id as the prompt shows it (``evidence_id``), wherever it is written: ``[news:123]``,
# ``(disclosure:20261002000123)``, ``[news:1, news:2]`` or bare in a sentence.
CITATION = re.compile(r"\b(?:news|disclosure|report):[0-9A-Za-z][0-9A-Za-z_-]*")
_EMPTY_BRACKETS = re.compile(r"\s*[\[(]\s*(?:[,;]\s*)*[\])]")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?])")
_LOOSE_SEPARATORS = re.compile(r"([\[(])\s*[,;]\s*|\s*[,;]\s*([\])])|,\s*,")


def text_citations(text: str) -> list[str]:
    """The document ids a piece of rationale text cites, in order, without duplicates."""
    return list(dict.fromkeys(CITATION.findall(text)))


def strip_citations(text: str, unknown: set[str]) -> str:
    """``text`` without the citations of ``unknown`` ids (and the brackets or separators they leave)."""
    if not unknown or not text:
        return text
    out = CITATION.sub(lambda m: "" if m.group(0) in unknown else m.group(0), text)
    previous = None
    while previous != out:
        previous = out
        out = _LOOSE_SEPARATORS.sub(lambda m: m.group(1) or m.group(2) or ",", out)
        out = _EMPTY_BRACKETS.sub("", out)
    return _SPACE_BEFORE_STOP.sub(r"\1", " ".join(out.split())).strip()


@dataclass(frozen=True)
class CitationCheck:
    """An answer's citations against the documents its prompt showed.

    ``cited`` are the shown documents the answer cites anywhere (evidence ids, then the ids written in
    the lists and the summary), in prompt order: what ``cited_inputs`` must record. ``unknown`` are the
    cited ids that name no shown document, as the model wrote them; ``unknown_evidence`` the part of
    them that came in ``evidence_ids``."""

    cited: list[str]
    unknown: list[str]
    unknown_evidence: list[str]


def answer_text(answer: ForecastAnswer) -> list[str]:
    return [*answer.positive_developments, *answer.potential_concerns, answer.summary]


def check_citations(answer: ForecastAnswer, shown: dict[str, DocumentInput]) -> CitationCheck:
    kept, dropped = filter_evidence(answer.evidence_ids, shown)
    in_text = [c for text in answer_text(answer) for c in text_citations(text)]
    cited = set(kept) | {c for c in in_text if c in shown}
    unknown = list(dict.fromkeys([*dropped, *(c for c in in_text if c not in shown)]))
    return CitationCheck(cited=[e for e in shown if e in cited], unknown=unknown, unknown_evidence=dropped)


def without_citations(answer: ForecastAnswer, unknown: list[str]) -> ForecastAnswer:
    """The answer with every citation of an ``unknown`` id removed from its text and its evidence ids."""
    if not unknown:
        return answer
    drop = set(unknown)
    return answer.model_copy(
        update={
            "positive_developments": [t for t in (strip_citations(x, drop) for x in answer.positive_developments) if t],
            "potential_concerns": [t for t in (strip_citations(x, drop) for x in answer.potential_concerns) if t],
            "summary": strip_citations(answer.summary, drop),
            "evidence_ids": [e for e in answer.evidence_ids if e not in drop],
        }
    )


def citation_correction(unknown: list[str], shown: dict[str, DocumentInput]) -> str:
    """The user message that asks a model again after it cited what the prompt never showed."""
    allowed = ", ".join(shown) if shown else "none: this prompt shows no document, so cite none"
    return (
        f"That answer cites {', '.join(unknown[:10])}, which {'is' if len(unknown) == 1 else 'are'} not among the "
        f"documents given. Cite only ids shown in brackets in the user message ({allowed}), in evidence_ids and in "
        "the text alike. Answer again with one JSON object that follows the schema exactly, and nothing else."
    )
