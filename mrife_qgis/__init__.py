"""MRIFE for QGIS: relic-landslide detection and fine-tuning.

QGIS calls :func:`classFactory`; it imports only the plugin class. torch is imported lazily
(and only where needed), so QGIS starts even when torch is missing or broken.
"""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Create the plugin for QGIS."""
    from .deps import activate_private_packages
    from .plugin import MrifePlugin

    activate_private_packages()

    return MrifePlugin(iface)
