"""Choice widgets the panels share. Choices are keyed by item data, never by their (translated)
labels."""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QComboBox

from ..i18n import tr


def precision_labels() -> dict[str, str]:
    """{key of ``mrife.compute.PRECISIONS``: label in the user's language}."""
    return {
        "auto": tr("auto (fastest accurate setting for the device)"),
        "float32": tr("float32 (no reduced precision)"),
        "bfloat16": "bfloat16",
        "float16": tr("float16 (CUDA GPUs)"),
    }


def precision_combo() -> QComboBox:
    """Precision choice, keyed by item data (``mrife.compute.PRECISIONS``)."""
    combo = QComboBox()
    for key, label in precision_labels().items():
        combo.addItem(label, key)
    combo.setToolTip(tr("auto: bfloat16 where the CPU or GPU computes it natively (about 2.5x "
                        "faster, the same results within 0.001 IoU), else float32"))
    return combo


def keyed_combo(items: dict[str, str]) -> QComboBox:
    """A combo box of {key: label}; read it with ``currentData()``, set it with
    :func:`select`."""
    combo = QComboBox()
    for key, label in items.items():
        combo.addItem(label, key)
    return combo


def select(combo: QComboBox, key: str) -> None:
    """Select the item whose data is ``key``."""
    index = combo.findData(key)
    if index < 0:
        raise KeyError(key)
    combo.setCurrentIndex(index)
