"""KIS financial statements, tr_cont-paged (real accounts only; "모의투자 미지원").

* ``/uapi/domestic-stock/v1/finance/balance-sheet``, tr_id FHKST66430100 (대차대조표): ``stac_yymm,
  cras, fxas, total_aset, flow_lblt, fix_lblt, total_lblt, cpfn, cfp_surp, prfi_surp, total_cptl``.
* ``/uapi/domestic-stock/v1/finance/income-statement``, tr_id FHKST66430200 (손익계산서): ``stac_yymm,
  sale_account, sale_cost, sale_totl_prfi, depr_cost, sell_mang, bsop_prti, bsop_non_ernn,
  bsop_non_expn, op_prfi, spec_prfi, spec_loss, thtr_ntin``.
* ``/uapi/domestic-stock/v1/finance/financial-ratio``, tr_id FHKST66430300 (재무비율): ``stac_yymm, grs,
  bsop_prfi_inrt, ntin_inrt, roe_val, eps, sps, bps, rsrv_rate, lblt_rate``.

Params ``FID_DIV_CLS_CODE`` (0 yearly, 1 quarterly), ``FID_COND_MRKT_DIV_CODE`` (J), ``FID_INPUT_ISCD``
(the portal and Postman send the last two in lower case; names match case-insensitively). ``output``
is a list, newest period first, 30 rows a page (the portal examples hold exactly 30).

Values copy the portal examples' formatting, quirks included: amounts in 억원 with two decimals
(``"2589355.00"``) except ``cpfn`` and ``sale_totl_prfi`` (no decimals); fields KIS does not provide
are the literal ``"99.99"`` ("출력되지 않는 데이터(99.99 로 표시)": ``cfp_surp, prfi_surp, depr_cost,
sell_mang, bsop_non_ernn, bsop_non_expn, spec_prfi, spec_loss``) — a client must not read them as
amounts. Ratios have two decimals; ``eps``/``bps`` are whole won written with ``.00``, ``sps`` whole
won. Quarterly income lines and ``eps`` are year-to-date cumulative ("분기데이터는 연단위 누적합산");
``roe_val`` and ``sps`` are annualised. Profit growth is ``0.00`` when either year is a loss.

Paging: a request with header ``tr_cont: ""`` starts at the newest period; ``tr_cont: N`` continues
where this appkey's previous page of the same TR, code and FID_DIV_CLS_CODE stopped (``N`` with no
earlier page starts over — a guess). Response header ``tr_cont``: ``F`` first page with more to come,
``M`` a middle page, ``E`` the last of several, ``D`` a single page. A further ``N`` after the last
page answers an empty ``output`` with ``E``. Only periods published by the sandbox's ``now`` are
served (``SimulatedMarket.financials``). ETN codes (``Q…``) and ``000000`` have no statements: an
empty ``output``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from stock_insights.sandbox.kis_gateway import (
    CODE_RE,
    NONEXISTENT_CODES,
    TrAnswer,
    TrContext,
    TrHandler,
    TrSpec,
    bad_field,
    bad_market_code,
    require_params,
    success,
)
from stock_insights.sandbox.market import FinancialPeriod

if TYPE_CHECKING:
    from stock_insights.sandbox.kis_gateway import KisSandbox

PAGE_ROWS = 30
NOT_PROVIDED = "99.99"
_PARAMS = ("FID_DIV_CLS_CODE", "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD")

BALANCE_SHEET_PATH = "/uapi/domestic-stock/v1/finance/balance-sheet"
BALANCE_SHEET_TR_ID = "FHKST66430100"
INCOME_STATEMENT_PATH = "/uapi/domestic-stock/v1/finance/income-statement"
INCOME_STATEMENT_TR_ID = "FHKST66430200"
FINANCIAL_RATIO_PATH = "/uapi/domestic-stock/v1/finance/financial-ratio"
FINANCIAL_RATIO_TR_ID = "FHKST66430300"

BALANCE_SHEET_KEYS = (
    "stac_yymm", "cras", "fxas", "total_aset", "flow_lblt", "fix_lblt", "total_lblt", "cpfn", "cfp_surp",
    "prfi_surp", "total_cptl",
)
INCOME_STATEMENT_KEYS = (
    "stac_yymm", "sale_account", "sale_cost", "sale_totl_prfi", "depr_cost", "sell_mang", "bsop_prti",
    "bsop_non_ernn", "bsop_non_expn", "op_prfi", "spec_prfi", "spec_loss", "thtr_ntin",
)
FINANCIAL_RATIO_KEYS = (
    "stac_yymm", "grs", "bsop_prfi_inrt", "ntin_inrt", "roe_val", "eps", "sps", "bps", "rsrv_rate", "lblt_rate",
)


def _amount(value: int) -> str:
    return f"{value}.00"


def _ratio(value: float | None) -> str:
    return f"{value if value is not None else 0.0:.2f}"


def balance_sheet_row(p: FinancialPeriod) -> dict[str, str]:
    return {
        "stac_yymm": p.period,
        "cras": _amount(p.current_assets),
        "fxas": _amount(p.fixed_assets),
        "total_aset": _amount(p.total_assets),
        "flow_lblt": _amount(p.current_liabilities),
        "fix_lblt": _amount(p.fixed_liabilities),
        "total_lblt": _amount(p.total_liabilities),
        "cpfn": str(p.capital_stock),
        "cfp_surp": NOT_PROVIDED,
        "prfi_surp": NOT_PROVIDED,
        "total_cptl": _amount(p.total_equity),
    }


def income_statement_row(p: FinancialPeriod) -> dict[str, str]:
    return {
        "stac_yymm": p.period,
        "sale_account": _amount(p.revenue),
        "sale_cost": _amount(p.cost_of_sales),
        "sale_totl_prfi": str(p.gross_profit),
        "depr_cost": NOT_PROVIDED,
        "sell_mang": NOT_PROVIDED,
        "bsop_prti": _amount(p.operating_profit),
        "bsop_non_ernn": NOT_PROVIDED,
        "bsop_non_expn": NOT_PROVIDED,
        "op_prfi": _amount(p.pretax_profit),
        "spec_prfi": NOT_PROVIDED,
        "spec_loss": NOT_PROVIDED,
        "thtr_ntin": _amount(p.net_income),
    }


def financial_ratio_row(p: FinancialPeriod) -> dict[str, str]:
    return {
        "stac_yymm": p.period,
        "grs": _ratio(p.revenue_growth),
        "bsop_prfi_inrt": _ratio(p.operating_profit_growth),
        "ntin_inrt": _ratio(p.net_income_growth),
        "roe_val": _ratio(p.roe),
        "eps": f"{round(p.eps)}.00",
        "sps": str(round(p.sps)),
        "bps": f"{round(p.bps)}.00",
        "rsrv_rate": _ratio(p.reserve_ratio),
        "lblt_rate": _ratio(p.debt_ratio),
    }


def _statement(tr_id: str, to_row: Callable[[FinancialPeriod], dict[str, str]]) -> TrHandler:
    def handler(sandbox: KisSandbox, params: Mapping[str, str], ctx: TrContext) -> TrAnswer:
        require_params(params, _PARAMS)
        if params["FID_COND_MRKT_DIV_CODE"].strip().upper() != "J":
            raise bad_market_code()
        code = params["FID_INPUT_ISCD"].strip().upper()
        division = params["FID_DIV_CLS_CODE"].strip()
        if not CODE_RE.match(code) or division not in ("0", "1"):
            raise bad_field()
        periods: list[FinancialPeriod] = []
        if code not in NONEXISTENT_CODES and not code.startswith("Q"):
            periods = sandbox.market.financials(code, quarterly=division == "1", now=sandbox.now())
            periods.reverse()  # KIS sends the newest period first
        key = (ctx.appkey, tr_id, code, division)
        offset = (sandbox.cursor(key) or 0) if ctx.tr_cont == "N" else 0
        page = periods[offset:offset + PAGE_ROWS]
        more = offset + len(page) < len(periods)
        if ctx.loop:
            tr_cont = "M"  # the fault: claim more and leave the cursor where it was
        else:
            sandbox.set_cursor(key, offset + len(page))
            tr_cont = ("F" if offset == 0 else "M") if more else ("D" if offset == 0 else "E")
        return TrAnswer({"output": [to_row(p) for p in page], **success()}, tr_cont)

    return handler


SPECS = (
    TrSpec(BALANCE_SHEET_PATH, BALANCE_SHEET_TR_ID, "국내주식 대차대조표 FHKST66430100 (실전 only)",
           _statement(BALANCE_SHEET_TR_ID, balance_sheet_row), paper=False, list_key="output",
           row_keys=BALANCE_SHEET_KEYS, price_key="total_aset"),
    TrSpec(INCOME_STATEMENT_PATH, INCOME_STATEMENT_TR_ID, "국내주식 손익계산서 FHKST66430200 (실전 only)",
           _statement(INCOME_STATEMENT_TR_ID, income_statement_row), paper=False, list_key="output",
           row_keys=INCOME_STATEMENT_KEYS, price_key="sale_account"),
    TrSpec(FINANCIAL_RATIO_PATH, FINANCIAL_RATIO_TR_ID, "국내주식 재무비율 FHKST66430300 (실전 only)",
           _statement(FINANCIAL_RATIO_TR_ID, financial_ratio_row), paper=False, list_key="output",
           row_keys=FINANCIAL_RATIO_KEYS, price_key="eps"),
)
