#!/usr/bin/env python3
"""Make a second checkpoint of the demo model for the comparison example: the same weights with
a native YaRN rope_scaling in config.json (factor 4 over the trained 512 tokens, so it declares
2048), as a YaRN-extended checkpoint ships it. `evalsuite run --config examples/compare-demo.toml`
then compares the demo model under several RoPE settings against this checkpoint as shipped.

    python scripts/make_demo_variant.py runs/demo-yarn4-native
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from evalsuite.models.resolve import DEMO_MODEL


def make_variant(dest: Path, factor: float = 4.0) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(DEMO_MODEL, dest)
    cfg_path = dest / "config.json"
    cfg = json.loads(cfg_path.read_text())
    original = int(cfg["max_position_embeddings"])
    theta = float((cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta", 10000.0)))
    cfg["rope_parameters"] = {"rope_type": "yarn", "rope_theta": theta, "factor": factor,
                              "original_max_position_embeddings": original, "beta_fast": 32.0, "beta_slow": 1.0}
    cfg["max_position_embeddings"] = int(original * factor)
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    return dest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dest", type=Path)
    p.add_argument("--factor", type=float, default=4.0)
    args = p.parse_args()
    print(f"wrote {make_variant(args.dest, args.factor)}")


if __name__ == "__main__":
    main()
