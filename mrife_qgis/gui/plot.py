"""A small live line plot (QPainter only, no plotting library): training loss per step and per
epoch on the left axis, validation metrics (0-1) on the right axis."""

from __future__ import annotations

import math

from qgis.PyQt.QtCore import QPointF, QRectF, QSize, Qt
from qgis.PyQt.QtGui import QColor, QPainter, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

from ..i18n import tr

# name -> (colour, right axis 0-1?, dashed?)
SERIES = {
    "loss (step)": ("#9e9e9e", False, False),
    "loss (epoch)": ("#1f77b4", False, False),
    "val IoU": ("#d62728", True, False),
    "val F1": ("#2ca02c", True, True),
}


def legend() -> dict[str, str]:
    """The series' names as the legend shows them, in the user's language."""
    return {"loss (step)": tr("loss (step)"), "loss (epoch)": tr("loss (epoch)"),
            "val IoU": tr("val IoU"), "val F1": tr("val F1")}


class CurvePlot(QWidget):
    """``add(series, x, y)`` appends a point (x in epochs, fractional for steps) and repaints;
    ``clear()`` starts over."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.data: dict[str, list[tuple[float, float]]] = {k: [] for k in SERIES}
        self.x_max = 1.0
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip(tr("grey: training loss per step; blue: mean loss per epoch (left "
                           "axis); red: validation landslide IoU, green dashed: validation F1 "
                           "(right axis, 0-1)"))

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(300, 160)

    def clear(self, epochs: float = 1.0) -> None:
        self.data = {k: [] for k in SERIES}
        self.x_max = max(float(epochs), 1.0)
        self.update()

    def add(self, series: str, x: float, y: float) -> None:
        if series not in self.data or y is None or not math.isfinite(y):
            return
        self.data[series].append((float(x), float(y)))
        self.x_max = max(self.x_max, float(x))
        self.update()

    def _loss_max(self) -> float:
        values = [y for k, (_c, right, _d) in SERIES.items() if not right
                  for _x, y in self.data[k]]
        return max(values) * 1.05 if values else 1.0

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = p.fontMetrics()
        left, right = fm.horizontalAdvance("0.000") + 8, fm.horizontalAdvance("1.0") + 10
        top, bottom = 8, fm.height() + 6
        area = QRectF(left, top, max(self.width() - left - right, 10),
                      max(self.height() - top - bottom, 10))
        p.fillRect(self.rect(), self.palette().base())
        p.setPen(QPen(self.palette().text().color(), 1))
        p.drawRect(area)
        loss_max = self._loss_max()
        text = self.palette().text().color()
        p.setPen(text)
        p.drawText(QRectF(0, top - 4, left - 4, fm.height()), Qt.AlignmentFlag.AlignRight,
                   f"{loss_max:.3g}")
        p.drawText(QRectF(0, area.bottom() - fm.height() + 4, left - 4, fm.height()),
                   Qt.AlignmentFlag.AlignRight, "0")
        p.drawText(QRectF(area.right() + 3, top - 4, right, fm.height()),
                   Qt.AlignmentFlag.AlignLeft, "1.0")
        p.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), fm.height()),
                   Qt.AlignmentFlag.AlignCenter, tr("epoch (0-{0})").format(f"{self.x_max:g}"))

        def point(x: float, y: float, right_axis: bool) -> QPointF:
            scale = 1.0 if right_axis else loss_max
            return QPointF(area.left() + area.width() * x / self.x_max,
                           area.bottom() - area.height() * min(y / scale, 1.0))

        lx = area.left() + 6
        labels = legend()
        for name, (colour, _right, dashed) in SERIES.items():     # legend, top left
            if not self.data[name]:
                continue
            pen = QPen(QColor(colour), 2)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            y = area.top() + fm.height() / 2 + 2
            p.drawLine(QPointF(lx, y), QPointF(lx + 14, y))
            p.setPen(text)
            p.drawText(QPointF(lx + 17, y + fm.ascent() / 2 - 1), labels[name])
            lx += 17 + fm.horizontalAdvance(labels[name]) + 10

        for name, (colour, right_axis, dashed) in SERIES.items():
            pts = [point(x, y, right_axis) for x, y in self.data[name]]
            if not pts:
                continue
            pen = QPen(QColor(colour), 2 if "epoch" in name or right_axis else 1)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            for a, b in zip(pts, pts[1:]):
                p.drawLine(a, b)
            if right_axis or "epoch" in name:
                for q in pts:
                    p.drawEllipse(q, 2.5, 2.5)
        p.end()
