#!/usr/bin/env python3
"""The app's rollout script: `scripts/rollout_models.py --percentage N` sets models.rollout_percentage."""
import argparse
import os
import re
import sys

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "infrastructure", "config", "production.yaml")

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--percentage", type=int, required=True, choices=range(0, 101), metavar="0..100")
args = parser.parse_args()
with open(CONFIG, encoding="utf-8") as fh:
    text = fh.read()
new, count = re.subn(r"(?m)^(\s+rollout_percentage:\s*)\d+", rf"\g<1>{args.percentage}", text, count=1)
if not count:
    sys.exit("rollout_percentage not found in " + CONFIG)
tmp = CONFIG + ".tmp"
with open(tmp, "w", encoding="utf-8") as fh:
    fh.write(new)
os.replace(tmp, CONFIG)
print(f"rollout_percentage set to {args.percentage}; restart genesis-orchestrator to apply")
