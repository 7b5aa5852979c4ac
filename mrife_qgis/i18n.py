"""The plugin's translations.

Every user-facing string of the plugin goes through :func:`tr` (one context, ``mrife``), so
``scripts/translations.py`` finds them all, writes them into ``i18n/mrife_<locale>.ts`` for
translators (Qt Linguist reads them), and ``make translations`` compiles them to ``.qm`` files
with Debian's ``lrelease``. :func:`install` loads the ``.qm`` of QGIS's user interface language
when the plugin starts. Texts with values use numbered fields (``tr("{0} of {1}").format(a, b)``)
so a translation can put them in another order. Messages from the backend (which has no Qt) stay
in English.
"""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtCore import QCoreApplication, QLocale, QTranslator

CONTEXT = "mrife"
I18N_DIR = Path(__file__).resolve().parent / "i18n"
_installed: list[QTranslator] = []


def tr(text: str) -> str:
    """``text`` in the user's language (itself when there is no translation)."""
    return QCoreApplication.translate(CONTEXT, text)


def qgis_locale() -> str:
    """QGIS's user interface language, e.g. ``zh_CN`` or ``en_US``: the one QGIS translates
    itself into (``qgis --lang``, or its options), else the language chosen in QGIS's options
    when its override is on, else the system's."""
    from qgis.core import QgsApplication, QgsSettings

    app = QgsApplication.instance()
    code = app.translation() if isinstance(app, QgsApplication) else ""
    if code:
        return str(code)
    settings = QgsSettings()
    override = str(settings.value("locale/overrideFlag", False)).lower() in ("true", "1")
    chosen = settings.value("locale/userLocale", "") if override else ""
    return str(chosen or QLocale.system().name())


# QGIS names its Chinese translations by script (zh-Hans, zh-Hant); systems name them by region
ALIASES = {"zh_Hans": "zh_CN", "zh_SG": "zh_CN", "zh": "zh_CN",
           "zh_Hant": "zh_TW", "zh_HK": "zh_TW", "zh_MO": "zh_TW"}


def qm_file(locale: str) -> Path | None:
    """The compiled translation for ``locale`` (``zh_CN``, or QGIS's ``zh-Hans``), else for its
    language; None when there is none (English)."""
    locale = locale.replace("-", "_").split(".")[0]      # zh-Hans, zh_CN.UTF-8
    language = locale.split("_")[0]
    if locale in ALIASES:
        names = (locale, ALIASES[locale])
    else:             # zh_TW must not fall back to zh (Simplified); de_DE may to de
        names = (locale, language, ALIASES.get(language) if locale == language else None)
    for name in names:
        path = I18N_DIR / f"mrife_{name}.qm"
        if name and path.is_file():
            return path
    return None


def install(locale: str | None = None) -> QTranslator | None:
    """Load the translation of ``locale`` (default: QGIS's) into the application; returns the
    translator (kept until :func:`remove`), or None when the plugin has no such translation."""
    path = qm_file(locale or qgis_locale())
    if path is None:
        return None
    translator = QTranslator()
    if not translator.load(str(path)):
        return None
    QCoreApplication.installTranslator(translator)
    _installed.append(translator)
    return translator


def remove() -> None:
    """Unload the translations :func:`install` loaded (plugin unload, tests)."""
    while _installed:
        QCoreApplication.removeTranslator(_installed.pop())
