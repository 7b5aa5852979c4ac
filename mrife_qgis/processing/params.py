"""Processing parameters that several algorithms declare the same way."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterVectorLayer,
)

from mrife import compute

from ..i18n import tr

PRECISION = "PRECISION"
LABELS, AREA = "LABELS", "MAPPED_AREA"


def precisions() -> tuple[str, ...]:
    """auto, float32, bfloat16, float16 (``mrife.compute``; importing it needs no torch)."""
    return compute.PRECISIONS


def large_plan_tiles() -> int:
    """Detection plans above this many tiles need ALLOW_LARGE (``mrife.compute``)."""
    return compute.LARGE_PLAN_TILES


def add_precision(alg) -> None:
    """The advanced "Precision" choice: auto (the device's fastest accurate setting) or a fixed
    one (float32 always works)."""
    param = QgsProcessingParameterEnum(
        PRECISION, tr("Precision (auto: bfloat16 where the CPU or GPU computes it natively)"),
        list(precisions()), defaultValue=0)
    param.setFlags(param.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
    alg.addParameter(param)


def precision_of(alg, parameters, context) -> str:
    return precisions()[alg.parameterAsEnum(parameters, PRECISION, context)]


def add_labels(alg, area_description: str) -> None:
    """The label layer (landslide polygons) and the optional mapped area, declared the same way by
    every algorithm that reads the user's labels (training, evaluation)."""
    polygons = [QgsProcessing.SourceType.TypeVectorPolygon]
    alg.addParameter(QgsProcessingParameterVectorLayer(
        LABELS, tr("Label layer (landslide polygons)"), polygons))
    alg.addParameter(QgsProcessingParameterVectorLayer(
        AREA, area_description, polygons, optional=True))
