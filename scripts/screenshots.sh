#!/usr/bin/env bash
# make screenshots: the three tabs of the panel in a real QGIS window under Xvfb at 1280 x 800
# (English, then Simplified Chinese), into docs/screenshots/ (scripts/screenshots.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export MRIFE_ROOT=$PWD
# a font with Chinese characters for the zh-Hans screenshots (a Chinese user's system has one)
if ! fc-list :lang=zh | grep -q .; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq --no-install-recommends fonts-wqy-microhei >/dev/null
  else echo "screenshots: no font with Chinese characters: sudo apt-get install fonts-wqy-microhei" >&2; exit 1; fi
fi
rm -f docs/screenshots/failed.txt
for lang in en_US zh-Hans; do   # QGIS's names for its translations
  suffix=""; [ "$lang" = en_US ] || suffix=$lang
  MRIFE_SCREENSHOT_LOCALE=$suffix timeout 600 xvfb-run -a -s "-screen 0 1280x800x24" \
    bash scripts/run_qgis.sh --nologo --lang "$lang" --code scripts/screenshots.py \
    > build/screenshots-$lang.log 2>&1 || true
  if [ -f docs/screenshots/failed.txt ] || [ ! -f "docs/screenshots/detect${suffix:+-$suffix}.png" ]; then
    echo "screenshots ($lang) failed:" >&2
    cat docs/screenshots/failed.txt 2>/dev/null >&2 || tail -20 build/screenshots-$lang.log >&2
    exit 1
  fi
done
ls -l docs/screenshots/
