"""Plays against promoted scans over time, as a self-contained SVG.

matplotlib is not among the project's dependencies, so the chart is drawn by hand: an
inline SVG string the operator console can embed as it is (no files, no JavaScript).
Bars are plays per hour (right axis); the solid line is promoted scans per hour in the
exposed windows of the stores near the screens, the dashed line what matched control
weeks predict for them. Hours without a figure (nothing measured, or hidden by the
privacy rule) break the lines: nothing is drawn for them, not even a zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from zoneinfo import ZoneInfo

from signage.attribution.model import AttributionReport

WIDTH, HEIGHT = 960, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 48, 56


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above ``value`` (axis tops people can read)."""
    if value <= 1:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        top = step * 10.0**exponent
        if top >= value:
            return top
    return 10.0 ** (exponent + 1)


def render_chart_svg(report: AttributionReport, *, timezone: str = "Europe/Paris") -> str:
    """An SVG document (string) for ``report``; hours are labelled in local time."""
    tz = ZoneInfo(timezone)
    points = report.series
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = max(len(points), 1)
    scan_max = _nice_max(
        max([p.scans or 0 for p in points] + [p.expected_scans or 0 for p in points] + [1])
    )
    play_max = _nice_max(max([p.plays for p in points] + [1]))

    def x(i: float) -> float:
        return LEFT + plot_w * i / n

    def y_scan(v: float) -> float:
        return TOP + plot_h * (1 - v / scan_max)

    def y_play(v: float) -> float:
        return TOP + plot_h * (1 - v / play_max)

    title = f"Campaign {report.campaign_id}: plays vs promoted scans"
    uplift = "n/a" if report.uplift is None else f"{report.uplift:+.1%}"
    if report.uplift is None and report.suppressed_clusters:
        uplift += f" (hidden: fewer than {report.min_count} baskets)"
    if report.uplift_ci is not None:
        uplift += (
            f" ({report.uplift_ci[0]:+.1%} to {report.uplift_ci[1]:+.1%}, "
            f"{report.confidence:.0%} CI)"
        )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="{LEFT}" y="36">uplift {escape(uplift)}</text>',
    ]
    for k in range(5):
        v = scan_max * k / 4
        yy = y_scan(v)
        parts.append(
            f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{WIDTH - RIGHT}" y2="{yy:.1f}" stroke="#e5e5e5"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:g}</text>')
        pv = play_max * k / 4
        parts.append(
            f'<text x="{WIDTH - RIGHT + 6}" y="{y_play(pv) + 4:.1f}" fill="#7a8fb8">{pv:g}</text>'
        )
    bar_w = max(plot_w / n * 0.8, 0.5)
    for i, p in enumerate(points):
        if p.plays:
            top = y_play(p.plays)
            parts.append(
                f'<rect class="plays" x="{x(i) + (plot_w / n - bar_w) / 2:.2f}" '
                f'y="{top:.2f}" width="{bar_w:.2f}" height="{TOP + plot_h - top:.2f}" '
                'fill="#c9d4ea"/>'
            )
    for line in _runs([p.scans for p in points]):
        xy = " ".join(f"{x(i + 0.5):.2f},{y_scan(v):.2f}" for i, v in line)
        parts.append(
            f'<polyline class="scans" points="{xy}" fill="none" '
            'stroke="#d04a02" stroke-width="1.5"/>'
        )
    for line in _runs([p.expected_scans for p in points]):
        xy = " ".join(f"{x(i + 0.5):.2f},{y_scan(v):.2f}" for i, v in line)
        parts.append(
            f'<polyline class="expected" points="{xy}" fill="none" '
            'stroke="#333333" stroke-width="1" stroke-dasharray="4 3"/>'
        )
    last_day = None
    for i, p in enumerate(points):
        local = p.hour_start.astimezone(tz)
        if local.date() != last_day:
            last_day = local.date()
            parts.append(
                f'<line x1="{x(i):.2f}" y1="{TOP}" x2="{x(i):.2f}" '
                f'y2="{TOP + plot_h}" stroke="#bbbbbb"/>'
            )
            parts.append(
                f'<text x="{x(i) + 3:.2f}" y="{TOP + plot_h + 16}">'
                f"{escape(local.strftime('%a %d %b'))}</text>"
            )
    axis_y = TOP + plot_h
    parts += [
        f'<line x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}" stroke="#333"/>',
        f'<text x="16" y="{TOP + plot_h / 2}" transform="rotate(-90 16 {TOP + plot_h / 2})" '
        'text-anchor="middle">scans per hour</text>',
        f'<text x="{WIDTH - 12}" y="{TOP + plot_h / 2}" '
        f'transform="rotate(90 {WIDTH - 12} {TOP + plot_h / 2})" text-anchor="middle" '
        'fill="#7a8fb8">plays per hour</text>',
    ]
    legend_y = HEIGHT - 14
    parts += [
        f'<rect x="{LEFT}" y="{legend_y - 9}" width="12" height="10" fill="#c9d4ea"/>',
        f'<text x="{LEFT + 16}" y="{legend_y}">plays</text>',
        f'<line x1="{LEFT + 70}" y1="{legend_y - 4}" x2="{LEFT + 90}" y2="{legend_y - 4}" '
        'stroke="#d04a02" stroke-width="1.5"/>',
        f'<text x="{LEFT + 94}" y="{legend_y}">promoted scans while exposed</text>',
        f'<line x1="{LEFT + 250}" y1="{legend_y - 4}" x2="{LEFT + 270}" y2="{legend_y - 4}" '
        'stroke="#333333" stroke-dasharray="4 3"/>',
        f'<text x="{LEFT + 274}" y="{legend_y}">expected without the campaign</text>',
        f'<text x="{WIDTH - RIGHT}" y="{legend_y}" text-anchor="end" fill="#777777">'
        f"hours from fewer than {report.min_count} baskets are not drawn</text>",
        "</svg>",
    ]
    return "\n".join(parts)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive hours that have a figure, as ``(index, value)`` runs of a line."""
    runs: list[list[tuple[int, float]]] = []
    previous = None
    for i, value in enumerate(values):
        if value is None:
            continue
        if previous != i - 1 or not runs:
            runs.append([])
        runs[-1].append((i, float(value)))
        previous = i
    return runs
