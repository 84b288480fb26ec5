# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module and filter of the collection renders in ansible-doc, as a user reads it, from the clone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
FILTERS = sorted(p.stem for p in (ROOT / "plugins" / "filter").glob("*.yml"))


def ansible_doc(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-doc"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    return proc.stdout


def test_the_list_names_every_module():
    listed = json.loads(ansible_doc("--list", "--json", "genesis.model_ops"))
    assert sorted(listed) == ["genesis.model_ops." + name for name in MODULES]
    assert {"model_health", "mistral_check", "rollout_set", "finetuned_toggle", "log_scan"} <= set(MODULES)


def test_every_filter_has_its_documentation():
    assert {"verdict", "report_markdown", "health_targets", "models_by_key", "remediation_plan", "change_summary"} <= set(FILTERS)


@pytest.mark.parametrize("kind,names", [("module", MODULES), ("filter", FILTERS)])
def test_each_renders_with_its_examples_and_return(kind, names):
    docs = json.loads(ansible_doc("-t", kind, "--json", *["genesis.model_ops." + name for name in names]))
    assert sorted(docs) == sorted("genesis.model_ops." + name for name in names)
    for name, doc in docs.items():
        assert doc["doc"]["short_description"] and doc["doc"]["description"], name
        assert doc["examples"].strip(), name
        assert doc["return"], name
        if kind == "module":
            attributes = doc["doc"]["attributes"]
            assert {"check_mode", "diff_mode"} <= set(attributes), name
    # and as text, the way a person reads it
    text = ansible_doc("-t", kind, *["genesis.model_ops." + name for name in names])
    for name in names:
        assert "genesis.model_ops." + name in text
