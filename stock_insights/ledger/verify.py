"""Re-verify sealed days from the database: every digest, every chain link, and the forecasts themselves.

For each seal of the range, in day order:

1. its ``previous_digest`` is the chain digest of the seal before it (64 zeros for the first): a deleted,
   inserted or rewritten day breaks this link on the next sealed day;
2. its ``chain_digest`` is SHA-256(previous + digest);
3. the stored canonical bytes hash to its ``digest`` and their header names the day, its ``sealed_at`` and its
   row count (an edited, reordered or truncated canonical form fails here);
4. the forecasts in the database, taken by the ledger's rule as of its ``sealed_at`` and written in the seal's
   own format (``header.format``: a format-1 seal has no ``prompt_hash``), give exactly those bytes (a changed
   probability or prompt hash, a changed or deleted row, a row slipped in as live fails here; rows stored in
   another physical order do not: the canonical order is by key).

The links of the seals before the range are checked too (cheap: no bytes), so a day deleted anywhere
before the range is caught. What no database check can catch is the *last* seals deleted or all rewritten
consistently: compare the chain digest with one published earlier (the asset's metadata shows each).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stock_insights import calendar
from stock_insights.ledger.canonical import GENESIS, chain_digest, digest_of, parse, row_key, timestamp
from stock_insights.ledger.store import recompute
from stock_insights.storage.models import LedgerSeal

MAX_DIFFERENCES = 5


@dataclass(frozen=True)
class DayProblem:
    day: date
    reason: str


@dataclass
class VerifyReport:
    checked: list[date] = field(default_factory=list)  # seals fully verified (bytes and forecasts)
    links: int = 0  # chain links checked
    problems: list[DayProblem] = field(default_factory=list)
    unsealed_sessions: list[date] = field(default_factory=list)  # between the first and last seal (not a failure)
    chain_head: str | None = None  # the chain digest of the last seal of the range

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_mismatch(self) -> DayProblem | None:
        return min(self.problems, key=lambda p: p.day) if self.problems else None

    def as_dict(self) -> dict[str, Any]:
        first = self.first_mismatch
        return {
            "ok": self.ok,
            "checked_days": len(self.checked),
            "first_day": self.checked[0].isoformat() if self.checked else None,
            "last_day": self.checked[-1].isoformat() if self.checked else None,
            "links_checked": self.links,
            "first_mismatch": {"day": first.day.isoformat(), "reason": first.reason} if first else None,
            "problems": [{"day": p.day.isoformat(), "reason": p.reason} for p in self.problems],
            "unsealed_sessions": [d.isoformat() for d in self.unsealed_sessions],
            "chain_head": self.chain_head,
        }


def verify(session: Session, first: date | None = None, last: date | None = None) -> VerifyReport:
    """Verify every seal with a day in [first, last] (open ends: every seal), and the chain up to ``last``."""
    report = VerifyReport()
    links = session.execute(
        select(LedgerSeal.day, LedgerSeal.digest, LedgerSeal.previous_digest, LedgerSeal.chain_digest)
        .where(*([LedgerSeal.day <= last] if last is not None else []))
        .order_by(LedgerSeal.day)
    ).all()
    expected_previous = GENESIS
    previous_day: date | None = None
    for link in links:
        report.links += 1
        if link.previous_digest != expected_previous:
            before = f"the seal of {previous_day.isoformat()}" if previous_day else "the genesis (64 zeros)"
            report.problems.append(
                DayProblem(
                    link.day,
                    f"chain broken: previous_digest {link.previous_digest[:12]}… is not the chain digest of {before} "
                    f"({expected_previous[:12]}…): a sealed day before it was deleted, inserted or rewritten",
                )
            )
        elif link.chain_digest != chain_digest(link.previous_digest, link.digest):
            report.problems.append(DayProblem(link.day, "chain_digest is not SHA-256(previous_digest + digest)"))
        expected_previous = link.chain_digest
        previous_day = link.day
    for link in links:
        if first is None or link.day >= first:
            report.chain_head = link.chain_digest

    in_range = [link.day for link in links if first is None or link.day >= first]
    for day in in_range:
        seal = session.get(LedgerSeal, day)
        assert seal is not None
        problem = _verify_seal(session, seal)
        report.checked.append(day)
        if problem is not None:
            report.problems.append(DayProblem(day, problem))
        session.expunge(seal)  # one day's bytes at a time
    report.problems.sort(key=lambda p: p.day)
    if len(in_range) > 1:
        sealed = set(in_range)
        report.unsealed_sessions = [d for d in calendar.sessions(in_range[0], in_range[-1]) if d not in sealed]
    return report


def _verify_seal(session: Session, seal: LedgerSeal) -> str | None:
    try:
        stored = zlib.decompress(seal.canonical_zlib)
    except zlib.error:
        return "the stored canonical form is not readable (zlib)"
    if digest_of(stored) != seal.digest:
        return "the stored canonical bytes do not hash to the sealed digest (edited, reordered or truncated)"
    try:
        header, rows = parse(stored)
    except ValueError as exc:
        return f"the stored canonical form is malformed: {exc}"
    expected = {"day": seal.day.isoformat(), "rows": seal.row_count, "sealed_at": timestamp(seal.sealed_at)}
    wrong = {k: header.get(k) for k, v in expected.items() if header.get(k) != v}
    if wrong or len(rows) != seal.row_count:
        return f"the sealed header disagrees with the seal row: {wrong or {'rows': len(rows)}}"
    current, _ = recompute(session, seal.day, seal.sealed_at, str(header["format"]))  # parse checked it is known
    if current == stored:
        return None
    _, now_rows = parse(current)
    return "the forecasts in the database differ from the seal: " + "; ".join(_differences(rows, now_rows))


def _label(key: tuple[str, str, int, str]) -> str:
    model, code, horizon, as_of = key
    return f"{model} {code} h{horizon} as_of {as_of}"


def _differences(sealed: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[str]:
    before = {row_key(r): r for r in sealed}
    after = {row_key(r): r for r in current}
    out = [f"missing {_label(k)}" for k in sorted(before.keys() - after.keys())]
    out += [f"not sealed but live {_label(k)}" for k in sorted(after.keys() - before.keys())]
    for key in sorted(before.keys() & after.keys()):
        changed = [f for f in sorted(before[key]) if before[key][f] != after[key].get(f)]
        if changed:
            f = changed[0]
            out.append(f"changed {_label(key)}: {f} sealed {before[key][f]!r}, now {after[key].get(f)!r}")
    if not out:
        out = ["the same rows in another order"]
    return out[:MAX_DIFFERENCES] + ([f"... {len(out) - MAX_DIFFERENCES} more"] if len(out) > MAX_DIFFERENCES else [])
