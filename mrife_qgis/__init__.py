"""MRIFE for QGIS: relic-landslide detection and fine-tuning.

QGIS calls :func:`classFactory`; it imports only the plugin class. torch is imported lazily
(and only where needed), so QGIS starts even when torch is missing or broken.

Importing this package puts the plugin's ``backend`` package on ``sys.path`` (``paths.
use_backend``); the plugin then imports it as ``from backend import ...``.
"""

from .paths import use_backend

use_backend()


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Create the plugin for QGIS."""
    from .deps import activate_private_packages
    from .plugin import MrifePlugin

    activate_private_packages()

    return MrifePlugin(iface)
