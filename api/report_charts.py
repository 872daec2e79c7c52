"""The charts of the monthly service report (月度服务报告) as reportlab drawings: tickets by category, SLA compliance
this month against the previous one, satisfaction against its targets.

Labels are drawn by hand in two lines, Chinese in STSong and English in Helvetica (as api/pdf.py sets text), so
they stay extractable and a viewer's stand-in font never spaces Latin letters badly."""
from __future__ import annotations

import math
from collections.abc import Sequence

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from .pdf import BAD, FONT, INK, LATIN_FONT, LATIN_RUN, MUTED, RULE

THIS, PREVIOUS, TRACK = colors.HexColor("#0b6bcb"), colors.HexColor("#a9b8c8"), colors.HexColor("#eef2f6")
Bar = tuple[str, str, float | None]  # Chinese label, English label, value


def _fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut with an ellipsis so that it fits `width`."""
    if stringWidth(text, font, size) <= width:
        return text
    while text and stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


def _mixed(drawing: Drawing, x: float, y: float, text: str, size: float, color: colors.Color,
           anchor: str = "start") -> None:
    """One line of Chinese with Latin runs in Helvetica, starting, centred or ending at x."""
    runs = [(run, LATIN_FONT if LATIN_RUN.fullmatch(run) else FONT) for run in LATIN_RUN.split(text) if run]
    width = sum(stringWidth(run, font, size) for run, font in runs)
    x -= {"middle": width / 2, "end": width}.get(anchor, 0)
    for run, font in runs:
        drawing.add(String(x, y, run, fontName=font, fontSize=size, fillColor=color))
        x += stringWidth(run, font, size)


def _two_lines(drawing: Drawing, x: float, y: float, zh: str, en: str, width: float, anchor: str = "middle") -> None:
    """A bilingual label: Chinese above, English below in grey; both cut to `width`."""
    _mixed(drawing, x, y, _fit(zh, FONT, 7.5, width), 7.5, INK, anchor)
    drawing.add(String(x, y - 3.3 * mm, _fit(en, LATIN_FONT, 6.5, width), fontName=LATIN_FONT, fontSize=6.5,
                       fillColor=MUTED, textAnchor=anchor))


def _axis_step(largest: float) -> tuple[int, int]:
    """A whole-number step and top for a count axis with about five ticks and room for the labels over the bars."""
    step = max(1, math.ceil(largest / 5))
    return step, step * (math.ceil(largest / step) + 1)


def _bars(width: float, height: float, names: int) -> VerticalBarChart:
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 9 * mm, 11 * mm, width - 11 * mm, height - 17 * mm
    chart.categoryAxis.categoryNames = [""] * names  # drawn below by _two_lines in two fonts
    chart.categoryAxis.strokeColor = RULE
    chart.valueAxis.strokeColor = RULE
    chart.valueAxis.gridStrokeColor = TRACK
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.valueMin = 0
    for labels in (chart.valueAxis.labels, chart.barLabels):
        labels.fontName, labels.fontSize, labels.fillColor = LATIN_FONT, 7, MUTED
    chart.barLabels.nudge = 6
    chart.barSpacing = 1
    return chart


def category_chart(bars: Sequence[Bar], width: float, height: float = 58 * mm) -> Drawing:
    """Tickets per category: one bar each with its count on top."""
    drawing = Drawing(width, height)
    chart = _bars(width, height, len(bars))
    chart.data = [[int(value or 0) for _zh, _en, value in bars]]
    chart.valueAxis.valueStep, chart.valueAxis.valueMax = _axis_step(max(chart.data[0], default=0))
    chart.bars[0].fillColor, chart.bars[0].strokeColor = THIS, None
    chart.barLabelFormat = "%d"
    chart.groupSpacing = max(4.0, chart.width / max(1, len(bars)) * 0.35)
    drawing.add(chart)
    _category_labels(drawing, chart, [(zh, en) for zh, en, _value in bars])
    return drawing


def _category_labels(drawing: Drawing, chart: VerticalBarChart, names: Sequence[tuple[str, str]]) -> None:
    slot = chart.width / max(1, len(names))
    for index, (zh, en) in enumerate(names):
        _two_lines(drawing, chart.x + slot * (index + 0.5), chart.y - 4 * mm, zh, en, slot - 1 * mm)


def compliance_chart(metrics: Sequence[tuple[str, str, float | None, float | None]], width: float,
                     height: float = 58 * mm) -> Drawing:
    """SLA compliance per metric in percent: this month's bar beside the previous month's; no bar when nothing
    was measured."""
    drawing = Drawing(width, height)
    chart = _bars(width, height - 3 * mm, len(metrics))
    chart.data = [[_percent(this) for _zh, _en, this, _prev in metrics],
                  [_percent(prev) for _zh, _en, _this, prev in metrics]]
    chart.valueAxis.valueMax, chart.valueAxis.valueStep = 110, 20
    chart.valueAxis.labelTextFormat = lambda v: f"{v:.0f}%" if v <= 100 else ""
    chart.barLabelFormat = "%.0f%%"
    for series, color in enumerate((THIS, PREVIOUS)):
        chart.bars[series].fillColor, chart.bars[series].strokeColor = color, None
    chart.groupSpacing = max(6.0, chart.width / max(1, len(metrics)) * 0.3)
    drawing.add(chart)
    _category_labels(drawing, chart, [(zh, en) for zh, en, _this, _prev in metrics])
    _legend(drawing, chart.x, height - 4 * mm, (("本月 This month", THIS), ("上月 Previous month", PREVIOUS)))
    return drawing


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def _legend(drawing: Drawing, x: float, y: float, entries: Sequence[tuple[str, colors.Color]]) -> None:
    for text, color in entries:
        drawing.add(Rect(x, y - 0.5 * mm, 3 * mm, 3 * mm, fillColor=color, strokeColor=None))
        zh, _, en = text.partition(" ")
        drawing.add(String(x + 4.5 * mm, y, zh, fontName=FONT, fontSize=7.5, fillColor=INK))
        x += 4.5 * mm + stringWidth(zh + " ", FONT, 7.5)
        drawing.add(String(x, y, en, fontName=LATIN_FONT, fontSize=7, fillColor=MUTED))
        x += stringWidth(en, LATIN_FONT, 7) + 8 * mm


def target_chart(rows: Sequence[tuple[str, str, float | None, float]], width: float) -> Drawing:
    """Horizontal bars on a 0-100 scale, each with its target marked in red: satisfaction against 85 %, the
    survey score against 90. A row without a value says so instead of drawing a bar."""
    row_h, label_w = 13 * mm, 52 * mm
    drawing = Drawing(width, row_h * len(rows) + 2 * mm)
    track_w = width - label_w - 22 * mm
    for index, (zh, en, value, target) in enumerate(rows):
        y = drawing.height - row_h * (index + 1) + 3 * mm
        _two_lines(drawing, 0, y + 3.6 * mm, zh, en, label_w - 2 * mm, anchor="start")
        drawing.add(Rect(label_w, y, track_w, 5 * mm, fillColor=TRACK, strokeColor=None))
        if value is not None:
            shown = max(0.0, min(100.0, value))
            color = THIS if value >= target else BAD
            drawing.add(Rect(label_w, y, track_w * shown / 100, 5 * mm, fillColor=color, strokeColor=None))
        drawing.add(String(label_w + track_w + 2 * mm, y + 1.3 * mm, "—" if value is None else f"{value:.1f}",
                           fontName=LATIN_FONT, fontSize=8, fillColor=INK))
        tx = label_w + track_w * target / 100
        drawing.add(Line(tx, y - 1.2 * mm, tx, y + 6.2 * mm, strokeColor=BAD, strokeWidth=1.2))
        _mixed(drawing, tx, y - 3.8 * mm, f"目标 Target {target:g}", 6.5, BAD, "middle")
    return drawing
