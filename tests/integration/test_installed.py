# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""As a platform team runs it: the built collection installed into a collections path of its own, run from an
empty folder (no ansible.cfg, a fresh HOME) with an inventory passed by -i; the next command the diagnosis
prints pasted exactly as printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import build_collection
from tests.integration.test_rollback import fleet  # noqa: F401 (fixture)  pylint: disable=unused-import

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tarball = build_collection(tmp_path_factory.mktemp("dist"))
    collections = tmp_path_factory.mktemp("collections")
    subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", "-p", str(collections), str(tarball)],
                   check=True, capture_output=True, timeout=300)
    return collections


def shell(words, cwd, collections, home):
    """A terminal in ``cwd``: the venv's tools on PATH, a fresh HOME, no ANSIBLE_* setting but the collections path."""
    env = {"PATH": BIN + os.pathsep + "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "ANSIBLE_COLLECTIONS_PATH": str(collections)}
    return subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_diagnose_then_the_printed_command_then_diagnose_from_an_empty_folder(fleet, installed, tmp_path, home):  # noqa: F811
    lab = fleet  # the remediation's change, backup and audit line undone afterwards
    site = tmp_path / "site"
    site.mkdir()
    bad = lab.hosts[1]
    lab.cli("fault", "rate_limit", "--hosts", bad.name, "--retry-after", "2")
    lab.cli("wait", "--hosts", bad.name, "--status", "degraded", "--timeout", "60")
    assert os.listdir(site) == []

    first = shell(["ansible-playbook", "-i", lab.inventory, "genesis.model_ops.diagnose"], site, installed, home)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    # the summary: the labels of the task that shows it (other tasks' loops have labels too)
    shown = first.stdout.split("TASK [Show the verdict, the next commands and the hosts that are not ok]", 1)[1].split("TASK [", 1)[0]
    lines = re.findall(r"\(item=(.*)\)\s*$", shown, flags=re.M)
    # the verdict and the command first, then only the host that is not ok and a count of the others
    assert lines[0].startswith("verdict: rate_limit  (%d hosts, 1 not ok;" % len(lab.hosts)), lines
    command = lines[1].split(": ", 1)[1]
    assert lines[1].startswith("next (rate_limit): ")
    assert command == "ansible-playbook genesis.model_ops.remediate_rate_limit -i %s --limit %s" % (lab.inventory, bad.name)
    assert re.match(r"%s\s+degraded\s+rate_limit$" % bad.name, lines[2]) and lines[3] == "(%d other hosts ok)" % (len(lab.hosts) - 1)
    with open(site / "reports" / "diagnosis-latest.json", encoding="utf-8") as handle:
        assert json.load(handle)["scenarios"][0]["command"] == command

    # pasted as printed, with pct 0 (the runbook's default is 5%, and the lab's 10 s health window cannot tell a
    # 5% share of 429s from the 10% threshold while the fault is still on)
    fix = shell(shlex.split(command) + ["-e", "pct=0"], site, installed, home)
    assert fix.returncode == 0, fix.stdout[-4000:] + fix.stderr[-2000:]
    with open(site / "reports" / "remediation-latest.json", encoding="utf-8") as handle:
        remediation = json.load(handle)
    assert remediation["changed_hosts"] == [bad.name] and remediation["failed_hosts"] == [], remediation

    again = shell(["ansible-playbook", "-i", lab.inventory, "genesis.model_ops.diagnose"], site, installed, home)
    assert again.returncode == 0, again.stdout[-4000:]
    with open(site / "reports" / "diagnosis-latest.json", encoding="utf-8") as handle:
        assert json.load(handle)["verdict"] == "healthy"
    # the run used the installed copy, not this clone
    assert str(installed) in shell(["ansible-galaxy", "collection", "list", "genesis.model_ops"], site, installed, home).stdout
