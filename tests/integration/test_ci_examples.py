# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""examples/ci/: valid for their systems (the GitHub Actions and GitLab CI schemas check-jsonschema
vendors), and every playbook or script they call exists in the project."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

CI = os.path.join(ROOT, "examples", "ci")
BIN = os.path.join(ROOT, ".venv", "bin")


@pytest.mark.parametrize("name, schema", [("github-actions.yml", "vendor.github-workflows"),
                                          ("gitlab-ci.yml", "vendor.gitlab-ci")])
def test_pipeline_is_valid_for_its_system(name, schema):
    proc = subprocess.run([os.path.join(BIN, "check-jsonschema"), "--builtin-schema", schema, os.path.join(CI, name)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_pipeline_calls_only_what_exists(name):
    with open(os.path.join(CI, name), encoding="utf-8") as handle:
        text = handle.read()
    yaml.safe_load(text)
    playbooks = re.findall(r"ansible-playbook\s+(\S+\.yml)", text)
    scripts = re.findall(r"(examples/ci/\S+\.sh)", text)
    assert "diagnose.yml" in playbooks and "preflight.yml" in playbooks and "examples/ci/remediate.sh" in scripts
    for path in playbooks + scripts:
        assert os.path.isfile(os.path.join(ROOT, path)), path
    with open(os.path.join(ROOT, "examples", "ci", "remediate.sh"), encoding="utf-8") as handle:
        assert re.search(r'ansible-playbook "\$root/remediate.yml"', handle.read())
    assert os.access(os.path.join(CI, "remediate.sh"), os.X_OK)
