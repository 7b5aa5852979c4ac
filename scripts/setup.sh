#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine for MRIFE for QGIS; safe to run again (idempotent).
#   1. Debian packages for QGIS and GDAL (installed when missing and we are root; otherwise the
#      apt commands to run are printed). QGIS=backports (default): QGIS 3.40 LTR from Debian's
#      bookworm-backports, beside Debian's own GDAL and numpy; QGIS=debian: Debian 12's own
#      QGIS 3.22, the oldest version the plugin supports (qgisMinimumVersion).
#   2. A venv (.venv) made with the system Python and --system-site-packages, so QGIS, GDAL and
#      Debian's numpy are the ones imported.
#   3. The pinned Python packages of requirements.txt, constrained so numpy is never replaced.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
QGIS=${QGIS:-backports}
DEB_PKGS="python3-qgis qgis-providers python3-gdal gdal-bin xvfb python3-venv python3-pip qttools5-dev-tools"
QGIS_PKGS="python3-qgis qgis-providers qgis"
BACKPORTS_LIST=/etc/apt/sources.list.d/mrife-bookworm-backports.sources

case "$QGIS" in
  backports|debian) ;;
  *) echo "setup: QGIS=$QGIS is not known; use QGIS=backports (3.40, default) or QGIS=debian (3.22)" >&2
     exit 2 ;;
esac

as_root() {  # run an apt command now (root) or print it and stop
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    echo "setup: run this once as root, then 'make setup' again:" >&2
    echo "  sudo $*" >&2
    exit 1
  fi
}

qgis_version() {
  dpkg-query -W -f='${Version}' python3-qgis 2>/dev/null | cut -d. -f1,2 || true
}

export DEBIAN_FRONTEND=noninteractive
if [ "$QGIS" = backports ] && [ "$(qgis_version)" != "3.40" ]; then
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "setup: adding Debian's bookworm-backports to apt's sources ($BACKPORTS_LIST)"
    as_root bash -c "printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
      'Suites: bookworm-backports' 'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > $BACKPORTS_LIST"
  fi
  echo "setup: installing QGIS 3.40 from bookworm-backports (Debian's GDAL and numpy stay)"
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends -t bookworm-backports $QGIS_PKGS >/dev/null
elif [ "$QGIS" = debian ] && [ "$(qgis_version)" != "3.22" ]; then
  echo "setup: installing Debian 12's own QGIS 3.22"
  as_root apt-get update -qq
  # every installed QGIS package back to bookworm's version (the backports' ones end in ~bpo12)
  # (not the versioned libraries, libqgis-core3.40.6 ...: bookworm has its own 3.22.16 ones)
  back=$(dpkg-query -W -f='${Package} ${Version}\n' |
         awk '$1 ~ /qgis/ && $1 !~ /[0-9]+\.[0-9]+\.[0-9]+$/ && $2 ~ /bpo12/ {print $1}')
  as_root apt-get install -y -qq --no-install-recommends --allow-downgrades \
    $(for p in $QGIS_PKGS $back; do echo "$p/bookworm"; done | sort -u) >/dev/null
fi

missing=()
for p in $DEB_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages. Run this once, then 'make setup' again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV (system Python, --system-site-packages)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi

# Pin whatever Debian ships that the QGIS/GDAL bindings are built against.
constraints="$VENV/debian-constraints.txt"
/usr/bin/python3 - > "$constraints" <<'PY'
import importlib.metadata as md
for name in ("numpy",):
    print(f"{name}=={md.version(name)}")
PY

stamp="$VENV/.requirements.sha"
want=$(cat requirements.txt "$constraints" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages (first time: torch is a few GB)"
  # PIP_FIND_LINKS is emptied so the machine's local torch "+cpu" wheel is not considered:
  # it does not match the registry's torchvision.
  PIP_FIND_LINKS="" "$VENV/bin/python" -m pip install -q --prefer-binary \
    -r requirements.txt -c "$constraints"
  echo "$want" > "$stamp"
fi

# Debian's numpy must be the one imported, and everything must import together.
"$VENV/bin/python" - <<'PY'
import numpy, torch, torchvision, cv2
from osgeo import gdal
import qgis.core  # noqa: F401
assert numpy.__file__.startswith("/usr/lib/python3/dist-packages"), (
    f"numpy was replaced in the venv ({numpy.__file__}); remove it: .venv/bin/pip uninstall numpy")
print(f"setup: ok: numpy {numpy.__version__} (Debian), torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, opencv {cv2.__version__}, GDAL {gdal.__version__}, "
      f"QGIS {qgis.core.Qgis.QGIS_VERSION}")
PY
