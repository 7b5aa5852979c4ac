"""Write (or refresh) a model's entry in resources/models/catalogue.json from the model file:
size, sha256, architecture, bands, resolution, tile size and test metrics come from the file;
title, what it was trained on, licence and attribution from the arguments.

    python scripts/catalogue_entry.py resources/models/mrife-r18-sichuan.pt --default
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mrife.checkpoint import read_payload  # noqa: E402
from mrife.digest import sha256_hex  # noqa: E402

CATALOGUE = ROOT / "resources" / "models" / "catalogue.json"
SICHUAN = ("Sichuan aerial landslide scenes (Zeng Chao, Cao Zhenyu, Su Fenghuan et al., Science "
           "Data Bank 2021, DOI 10.11922/sciencedb.j00001.00222, CC BY 4.0; 1024 px crops "
           "published by atlan-antillia, Apache-2.0)")


def entry(model: Path, name: str, title: str, trained_on: str, licence: str,
          attribution: str) -> dict:
    data = read_payload(model)
    cfg, contract = data["model_config"], data["data_contract"]
    test = (data.get("metrics") or {}).get("test") or {}
    return {
        "name": name, "title": title, "file": model.name,
        "architecture": cfg["arch"], "backbone": cfg["backbone"], "bands": contract["bands"],
        "ground_resolution": contract["ground_resolution"], "tile_size": contract["tile_size"],
        "threshold": (data.get("decision") or {}).get("threshold", 0.5),
        "trained_on": trained_on,
        "metrics": {k: round(test[k], 4) for k in ("iou_landslide", "f1", "precision", "recall")
                    if k in test},
        "licence": licence, "attribution": attribution,
        "size": model.stat().st_size,
        "sha256": sha256_hex(model),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--name", default="mrife-r18-sichuan")
    ap.add_argument("--title", default="MRIFE resnet18, Sichuan aerial scenes (2 m, RGB)")
    ap.add_argument("--trained-on", default="22 Sichuan aerial scenes (0.5 m RGB, resampled to "
                    "2 m); 7 validate, 7 test scenes never seen (docs/bundled-model.md)")
    ap.add_argument("--licence", default="GPL-2.0-or-later (weights); training data CC BY 4.0")
    ap.add_argument("--attribution", default=SICHUAN)
    ap.add_argument("--default", action="store_true", help="the model used when none is chosen")
    args = ap.parse_args()
    cat = json.loads(CATALOGUE.read_text()) if CATALOGUE.exists() else \
        {"format": "mrife-catalogue", "version": 1, "default": None, "models": []}
    new = entry(args.model, args.name, args.title, args.trained_on, args.licence,
                args.attribution)
    cat["models"] = [m for m in cat["models"] if m["name"] != args.name] + [new]
    if args.default or not cat.get("default"):
        cat["default"] = args.name
    CATALOGUE.write_text(json.dumps(cat, indent=2) + "\n")
    print(f"{CATALOGUE}: {args.name}, {new['size'] / 2**20:.1f} MiB, sha256 {new['sha256'][:16]}")


if __name__ == "__main__":
    main()
