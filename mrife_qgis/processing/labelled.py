"""Shared by the fine-tuning algorithms: the imagery, label-layer and mapped-area parameters and
their checks."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterMultipleLayers,
)

from .. import training
from ..i18n import tr
from . import params


class LabelledAlgorithm(QgsProcessingAlgorithm):
    """Algorithms that read imagery and a label layer (the inputs the Train tab collects)."""

    RASTERS, LABELS, AREA = "RASTERS", params.LABELS, params.AREA

    def group(self) -> str:
        return tr("Fine-tuning")

    def groupId(self) -> str:  # noqa: N802
        return "finetune"

    def _add_label_parameters(self) -> None:
        self.addParameter(
            QgsProcessingParameterMultipleLayers(
                self.RASTERS,
                tr("Imagery (one or more raster layers)"),
                QgsProcessing.SourceType.TypeRaster,
            )
        )
        params.add_labels(self, tr("Mapped area (completely labelled ground)"))

    def _label_inputs(self, parameters, context, feedback, work: Path):
        layers = self.parameterAsLayerList(parameters, self.RASTERS, context)
        try:
            paths, inputs = training.label_inputs(
                layers,
                self.parameterAsVectorLayer(parameters, self.LABELS, context),
                self.parameterAsVectorLayer(parameters, self.AREA, context),
                work,
            )
        except ValueError as exc:
            raise QgsProcessingException(str(exc)) from exc
        for m in inputs.infos:
            feedback.pushInfo(m)
        for m in inputs.warnings:
            feedback.pushWarning(m)
        return layers, paths, inputs
