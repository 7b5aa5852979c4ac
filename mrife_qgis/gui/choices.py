"""Choice widgets the panels share."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QComboBox

PRECISION_LABELS = {
    "auto": "auto (fastest accurate setting for the device)",
    "float32": "float32 (no reduced precision)",
    "bfloat16": "bfloat16",
    "float16": "float16 (CUDA GPUs)",
}


def precision_combo() -> QComboBox:
    """Precision choice, keyed by item data (``backend.compute.PRECISIONS``)."""
    combo = QComboBox()
    for key, label in PRECISION_LABELS.items():
        combo.addItem(label, key)
    combo.setToolTip("auto: bfloat16 where the CPU or GPU computes it natively (about 2.5x "
                     "faster, the same results within 0.001 IoU), else float32")
    return combo
