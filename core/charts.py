"""Charts as inline SVG, drawn on the server: the admin's pages render them without internet access or any
JavaScript library. Framework-free: numbers in, an SVG string out (every label escaped).

Two kinds cover the product's pages: `interval_chart` (a forest plot: one estimate and interval per row,
against zero and optional bounds) and `line_chart` (series over time, e.g. cumulative conversion or bandit
weights). The colours are a colour-blind-safe palette (Okabe-Ito).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
WIDTH = 720
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True)
class IntervalRow:
    label: str
    estimate: float | None  # None: undefined so far (the note says why)
    low: float | None
    high: float | None
    note: str = ""


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _format(value: float, unit: str) -> str:
    return f"{value:.0%}" if unit == "%" and abs(value) >= 0.1 else (f"{value:.1%}" if unit == "%" else f"{value:g}")


def _svg(height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width:{WIDTH}px" {FONT}><title>{escape(title)}</title>'
        f'<text x="8" y="16" font-weight="bold">{escape(title)}</text>{"".join(body)}</svg>'
    )


def interval_chart(rows: Sequence[IntervalRow], *, title: str, unit: str = "%", bounds: Sequence[float] = ()) -> str:
    """A forest plot: per row its estimate (dot) and interval (bar), a solid line at 0 and dashed ones at
    `bounds` (e.g. plus and minus the minimum effect)."""
    left, right, row_height, top = 170, WIDTH - 20, 30, 30
    height = top + row_height * max(len(rows), 1) + 30
    values = [v for r in rows for v in (r.low, r.high, r.estimate) if v is not None and math.isfinite(v)]
    values += [0.0, *bounds]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 0.05
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    body = []
    axis_y = top + row_height * max(len(rows), 1)
    for tick in _ticks(low, high):
        body.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{axis_y}" stroke="#eee"/>')
        body.append(f'<text x="{x(tick):.1f}" y="{axis_y + 16}" text-anchor="middle">{_format(tick, unit)}</text>')
    body.append(f'<line x1="{x(0):.1f}" y1="{top}" x2="{x(0):.1f}" y2="{axis_y}" stroke="#333"/>')
    for bound in bounds:
        body.append(
            f'<line x1="{x(bound):.1f}" y1="{top}" x2="{x(bound):.1f}" y2="{axis_y}" stroke="#999" '
            'stroke-dasharray="4 3"/>'
        )
    for index, row in enumerate(rows):
        y = top + row_height * index + row_height / 2
        colour = PALETTE[index % len(PALETTE)]
        body.append(f'<text x="8" y="{y + 4:.1f}">{escape(row.label)}</text>')
        if row.estimate is None or row.low is None or row.high is None:
            body.append(f'<text x="{left}" y="{y + 4:.1f}" fill="#777">{escape(row.note or "undefined")}</text>')
            continue
        lo, hi = max(row.low, low), min(row.high, high)  # a one-sided interval runs to the edge
        body.append(
            f'<line x1="{x(lo):.1f}" y1="{y:.1f}" x2="{x(hi):.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="3"/>'
        )
        body.append(f'<circle cx="{x(row.estimate):.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
        label = f"{_format(row.estimate, unit)} [{_format(row.low, unit)}, {_format(row.high, unit)}]"
        body.append(f'<text x="{right}" y="{y - 8:.1f}" text-anchor="end" fill="#555">{escape(label)}</text>')
    return _svg(height, title, body)


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    unit: str = "%",
    empty_note: str = "No data yet.",
) -> str:
    """Series of (unix time, value) points, one line each, with a legend and dated x ticks."""
    height, left, right, top, bottom = 260, 60, WIDTH - 20, 40, 220
    points = [p for values in series.values() for p in values if math.isfinite(p[1])]
    if not points:
        return _svg(80, title, [f'<text x="8" y="50" fill="#777">{escape(empty_note)}</text>'])
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    v0, v1 = min(0.0, min(p[1] for p in points)), max(p[1] for p in points)
    if t1 == t0:
        t0, t1 = t0 - 1, t1 + 1
    v1 = v1 + (v1 - v0) * 0.1 or 1.0

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * (right - left)

    def y(v: float) -> float:
        return bottom - (v - v0) / (v1 - v0) * (bottom - top)

    body = []
    for tick in _ticks(v0, v1, 4):
        body.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{right}" y2="{y(tick):.1f}" stroke="#eee"/>')
        body.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{_format(tick, unit)}</text>')
    for fraction in (0.0, 0.5, 1.0):
        t = t0 + fraction * (t1 - t0)
        label = datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M")
        body.append(f'<text x="{x(t):.1f}" y="{bottom + 18}" text-anchor="middle">{label}</text>')
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        finite = [(t, v) for t, v in values if math.isfinite(v)]
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in finite)
        if len(finite) == 1:
            body.append(f'<circle cx="{path.split(",")[0]}" cy="{path.split(",")[1]}" r="3" fill="{colour}"/>')
        elif finite:
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        body.append(f'<rect x="{left + 130 * index}" y="{height - 18}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{left + 130 * index + 14}" y="{height - 9}">{escape(name)}</text>')
    return _svg(height, title, body)
