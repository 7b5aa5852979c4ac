#!/usr/bin/env bash
# Start the QGIS desktop with the plugin from the source tree (symlinked, so edits are live) in a
# profile of its own under build/, and with the venv's packages (torch, torchvision) visible.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if ! command -v qgis >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq qgis >/dev/null
  else echo "The QGIS desktop is not installed: sudo apt-get install -y qgis" >&2; exit 1; fi
fi
PROFILES=$ROOT/build/qgis-profiles
PLUGDIR=$PROFILES/profiles/mrife-dev/python/plugins/mrife_qgis
mkdir -p "$PLUGDIR" "$PROFILES/profiles/mrife-dev/QGIS"
rm -f "$PLUGDIR/backend"                  # a link left by versions before the library's rename
# the library is found beside mrife_qgis/ in the source tree (paths.library_root)
for f in "$ROOT"/mrife_qgis/* "$ROOT/resources" "$ROOT/metadata.txt"; do
  ln -sfn "$f" "$PLUGDIR/$(basename "$f")"
done
INI=$PROFILES/profiles/mrife-dev/QGIS/QGIS3.ini
grep -q '^mrife_qgis=true' "$INI" 2>/dev/null || printf '[PythonPlugins]\nmrife_qgis=true\n' >> "$INI"
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
unset QT_QPA_PLATFORM
exec qgis --profiles-path "$PROFILES" --profile mrife-dev "$@"
