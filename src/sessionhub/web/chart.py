"""A passings-per-second bar chart as inline SVG, drawn on the server (no chart library, no script).

``bars(times_ms, end_ms, seconds)`` buckets passing times into the ``seconds`` one-second slots
ending at ``end_ms``; ``svg`` draws them. The SVG carries a text summary for screen readers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bars:
    counts: list[int]
    end_ms: int

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)

    @property
    def total(self) -> int:
        return sum(self.counts)


def bars(times_ms: Iterable[int], end_ms: int, seconds: int = 60) -> Bars:
    counts = [0] * seconds
    start = end_ms - seconds * 1000
    for t in times_ms:
        if start < t <= end_ms:
            counts[min(seconds - 1, (t - start - 1) // 1000)] += 1
    return Bars(counts, end_ms)


def svg(b: Bars, width: int = 600, height: int = 120) -> str:
    n = len(b.counts) or 1
    peak = max(b.peak, 1)
    w = width / n
    rects = []
    for i, c in enumerate(b.counts):
        if c:
            h = round(c / peak * (height - 16), 1)
            rects.append(f'<rect x="{i * w:.1f}" y="{height - h:.1f}" width="{max(w - 1, 1):.1f}" height="{h}"/>')
    label = f"{b.total} passings in the last {n} seconds, at most {b.peak} in one second"
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" '
            f'preserveAspectRatio="none"><title>{label}</title>'
            f'<line x1="0" y1="{height}" x2="{width}" y2="{height}"/>{"".join(rects)}'
            f'<text x="4" y="12">{b.peak}/s</text></svg>')
