"""A reliability diagram as a self-contained SVG (no plotting library needed)."""

from __future__ import annotations

from html import escape

from stock_insights.metrics.classification import Calibration

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def reliability_svg(curves: dict[str, Calibration], title: str, size: int = 360) -> str:
    """Observed frequency against mean predicted probability per bin, one line per model, diagonal = perfect."""
    pad = 40
    inner = size - 2 * pad

    def xy(p: float, f: float) -> tuple[float, float]:
        return pad + p * inner, size - pad - f * inner

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size + 20 * len(curves)}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="{size / 2}" y="16" text-anchor="middle" font-size="13">{escape(title)}</text>',
        f'<rect x="{pad}" y="{pad}" width="{inner}" height="{inner}" fill="none" stroke="#999"/>',
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#bbb" stroke-dasharray="4 3"/>',
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle">mean predicted P(up)</text>',
        f'<text x="12" y="{size / 2}" transform="rotate(-90 12 {size / 2})" '
        'text-anchor="middle">observed up rate</text>',
    ]
    for tick in (0, 0.5, 1):
        x, y = xy(tick, tick)
        parts.append(f'<text x="{x}" y="{size - pad + 14}" text-anchor="middle">{tick:g}</text>')
        parts.append(f'<text x="{pad - 6}" y="{y + 4}" text-anchor="end">{tick:g}</text>')
    for i, (model, cal) in enumerate(sorted(curves.items())):
        color = COLORS[i % len(COLORS)]
        points = [
            xy(b.mean_predicted, b.observed_frequency)
            for b in cal.bins
            if b.count and b.mean_predicted is not None and b.observed_frequency is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in points)
        ly = size + 14 * i + 4
        parts.append(f'<rect x="{pad}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{pad + 16}" y="{ly + 1}">{escape(model)} (ECE {cal.ece:.3f}, n={cal.n})</text>')
    parts.append("</svg>")
    return "\n".join(parts)
