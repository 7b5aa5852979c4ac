"""MRIFE for QGIS: relic-landslide detection and fine-tuning.

QGIS calls :func:`classFactory`; it imports only the plugin class. torch is imported lazily
(and only where needed), so QGIS starts even when torch is missing or broken.

Importing this package puts the plugin's ``mrife`` package on ``sys.path`` (``paths.
use_library``); the plugin then imports it as ``from mrife import ...``.
"""

from .paths import use_library

use_library()


def classFactory(iface):  # noqa: N802 (QGIS's name)
    """Create the plugin for QGIS."""
    from .deps import activate_private_packages
    from .plugin import MrifePlugin

    activate_private_packages()

    return MrifePlugin(iface)
