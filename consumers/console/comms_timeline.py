"""The incident timeline as an inline SVG (no script, no external resource): calls and reports per step around the
alert, stacked, with the alert, the notice posted and the resolution marked. Pure: numbers and labels in, markup out.

Every bar and mark carries data-* attributes (step start, calls, reports; which mark), so a test reads the figures
off the page as a person reads the chart.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 720, 230
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 44, 34
LABEL_ROW = 12


@dataclass(frozen=True)
class Step:
    start: dt.datetime
    calls: int
    reports: int


def _ticks(top: int) -> list[int]:
    if top <= 5:
        return list(range(top + 1))
    step = next(s for s in (2, 5, 10, 20, 25, 50, 100, 200, 500, 1000, 10**9) if top / s <= 5)
    return list(range(0, top + 1, step))


def timeline_svg(
    steps: Sequence[Step],
    *,
    step_minutes: int,
    marks: Mapping[str, dt.datetime | None],
    labels: Mapping[str, str],
    tz: ZoneInfo,
) -> str:
    """`marks`: alert, broadcast, resolved (None: not drawn); `labels`: their names and calls/reports, translated.

    Long because it writes the one SVG in the order it is drawn: grid, bars per step, marks, legend.
    """
    if not steps:
        return ""
    first = steps[0].start
    span = (steps[-1].start - first).total_seconds() + step_minutes * 60
    top = max(1, max(s.calls + s.reports for s in steps))
    top = max(_ticks(top)[-1], top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bar_w = plot_w / len(steps)

    def x(moment: dt.datetime) -> float:
        return LEFT + plot_w * (moment - first).total_seconds() / span

    def y(n: float) -> float:
        return TOP + plot_h * (1 - n / top)

    out = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(labels["title"])}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for t in _ticks(top):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}"/>')
        out.append(f'<text class="axis" x="{LEFT - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t}</text>')
    every = max(1, round(60 / step_minutes))
    for i, s in enumerate(steps):
        left = LEFT + i * bar_w + 1
        w = max(1.0, bar_w - 2)
        local = s.start.astimezone(tz)
        title = f"{local:%H:%M} {labels['calls']} {s.calls}, {labels['reports']} {s.reports}"
        out.append(
            f'<g class="step" data-start="{s.start.isoformat()}" data-calls="{s.calls}" data-reports="{s.reports}">'
            f"<title>{escape(title)}</title>"
        )
        if s.calls:
            out.append(
                f'<rect class="calls" x="{left:.1f}" y="{y(s.calls):.1f}" width="{w:.1f}" height="{y(0) - y(s.calls):.1f}"/>'
            )
        if s.reports:
            base = y(s.calls)
            out.append(
                f'<rect class="reports" x="{left:.1f}" y="{y(s.calls + s.reports):.1f}" width="{w:.1f}" '
                f'height="{base - y(s.calls + s.reports):.1f}"/>'
            )
        out.append("</g>")
        if i % every == 0:
            out.append(f'<text class="axis" x="{left:.1f}" y="{HEIGHT - BOTTOM + 14}">{local:%H:%M}</text>')
    end = first + dt.timedelta(seconds=span)
    shown = sorted(((m, n) for n, m in marks.items() if m is not None and first <= m <= end), key=lambda p: p[0])
    for row, (moment, name) in enumerate(shown):
        # One row of labels per mark, so an alert and a notice minutes apart stay readable; a label near the right
        # edge reads leftwards from its line.
        at = x(moment)
        label_y = LABEL_ROW * (row % 3 + 1)
        anchor, dx = ("end", -4) if at > WIDTH - RIGHT - 120 else ("start", 4)
        local = moment.astimezone(tz)
        out.append(
            f'<g class="mark {name}" data-mark="{name}" data-at="{moment.isoformat()}">'
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{label_y - 9}" y2="{HEIGHT - BOTTOM}"/>'
            f'<text x="{at + dx:.1f}" y="{label_y}" text-anchor="{anchor}">{escape(labels[name])} {local:%H:%M}</text></g>'
        )
    out.append(
        f'<g class="legend"><rect class="calls" x="{LEFT}" y="{HEIGHT - 12}" width="10" height="10"/>'
        f'<text x="{LEFT + 14}" y="{HEIGHT - 3}">{escape(labels["calls"])}</text>'
        f'<rect class="reports" x="{LEFT + 90}" y="{HEIGHT - 12}" width="10" height="10"/>'
        f'<text x="{LEFT + 104}" y="{HEIGHT - 3}">{escape(labels["reports"])}</text></g>'
    )
    out.append("</svg>")
    return "".join(out)
