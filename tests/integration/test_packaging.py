# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the built collection holds: what a user installs and runs, not the workshop that builds and tests it
(the lab, the linters' settings, the test tooling, the developers' docs, a clone's own ansible.cfg)."""

from __future__ import annotations

import fnmatch
import json
import os
import tarfile

import pytest
import yaml

from tests.conftest import ROOT, build_collection, checkout_files

# Never in the tarball: each would act on, or describe, the clone it came from.
WORKSHOP = ["ansible.cfg", ".ansible-lint", ".yamllint", "Makefile", "requirements-dev.txt", "pytest.ini",
            ".ci/*", "lab/*", "bench/*", "tests/unit/*", "tests/integration/*", "tests/lab/*", "tests/conftest.py",
            "tests/sanity/run.sh", "tests/faults/*", "tests/mutation/*", ".mutation/*", "tests/sanity/get_pip_standin.py", "extensions/molecule/*", "docs/dev/*",
            "docs/performance.md", "inventories/lab/*", "inventories/lab-*", "execution-environment.yml",
            "diagnose.yml", "preflight.yml", "remediate.yml", "remediate_*.yml", "rollback.yml", "reports/*", "*.tar.gz"]

# What a user of the installed collection reaches for.
NEEDED = ["README.md", "LICENSE", "meta/runtime.yml", "meta/execution-environment.yml", "requirements.txt",
          "bindep.txt", "changelogs/changelog.yaml", "docs/host-contract.md", "docs/diagnosis-report.schema.json",
          "docs/docsite/links.yml", "docs/docsite/extra-docs.yml", "inventories/example/hosts.ini",
          "extensions/awx/job_templates.yml", "extensions/eda/rulebooks/genesis-model-ops.yml",
          "extensions/prometheus/rules/genesis-model-ops.rules.yml", "examples/ci/github-actions.yml",
          "tests/sanity/ignore-2.19.txt"]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    path = build_collection(tmp_path_factory.mktemp("dist"))
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    return path, members, manifest


def test_the_tarball_holds_no_workshop_file(tarball):
    _path, members, _manifest = tarball
    workshop = sorted(name for name in members for pattern in WORKSHOP if fnmatch.fnmatchcase(name, pattern))
    assert workshop == []


def test_the_tarball_holds_what_a_user_needs(tarball):
    _path, members, _manifest = tarball
    assert [name for name in NEEDED if name not in members] == []
    # every module, filter and playbook of the clone
    shipped = checkout_files()
    for folder in ("plugins/modules", "plugins/filter", "plugins/module_utils", "plugins/plugin_utils", "playbooks", "roles"):
        missing = sorted(p for p in shipped if p.startswith(folder + "/") and p not in members)
        assert missing == [], folder


def test_the_manifest_carries_no_placeholder(tarball):
    path, _members, manifest = tarball
    info = manifest["collection_info"]
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert os.path.basename(path) == "genesis-model_ops-%s.tar.gz" % galaxy["version"] == "genesis-model_ops-%s.tar.gz" % info["version"]
    assert info["repository"] == galaxy["repository"]  # the publisher's; the README's installation names it
    for field in ("documentation", "homepage", "issues"):
        assert info[field] is None, (field, info[field])  # none until the publisher has them
    assert info["license"] == ["GPL-3.0-or-later"]
