"""Server-rendered SVG charts: small, accessible, no script, colours from the CSS."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    previous: Sequence[float | None] | None = None,
    unit: str = "",
    width: int = 640,
    height: int = 200,
) -> Markup:
    """A bar chart (previous period as thin grey bars behind, when given)."""
    pad_left, pad_bottom, pad_top = 44, 24, 10
    plot_w, plot_h = width - pad_left - 6, height - pad_bottom - pad_top
    top = max([v for v in (*values, *(previous or ())) if v is not None] or [0]) or 1
    n = max(1, len(labels))
    slot = plot_w / n
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{pad_left}" y1="{pad_top + plot_h}" '
        f'x2="{width - 6}" y2="{pad_top + plot_h}"/>',
        f'<text class="tick" x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end">'
        f"{escape(_short(top))}{escape(unit)}</text>",
        f'<text class="tick" x="{pad_left - 4}" y="{pad_top + plot_h}" text-anchor="end">0</text>',
    ]
    step = max(1, n // 12)
    for i, label in enumerate(labels):
        x = pad_left + i * slot
        if previous is not None and previous[i] is not None:
            h = plot_h * float(previous[i] or 0) / top
            parts.append(
                f'<rect class="prev" x="{x + slot * 0.1:.1f}" y="{pad_top + plot_h - h:.1f}" '
                f'width="{slot * 0.8:.1f}" height="{h:.1f}"/>'
            )
        value = values[i]
        if value is not None:
            h = plot_h * float(value) / top
            parts.append(
                f'<rect class="bar" x="{x + slot * 0.25:.1f}" y="{pad_top + plot_h - h:.1f}" '
                f'width="{slot * 0.5:.1f}" height="{h:.1f}"><title>{escape(label)}: '
                f"{escape(_short(value))}{escape(unit)}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text class="tick" x="{x + slot / 2:.1f}" y="{height - 6}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.1f}"
