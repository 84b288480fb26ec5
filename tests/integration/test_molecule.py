# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling_restart role's molecule scenario (extensions/molecule/rolling_restart), against the lab's hosts:
converge restarts each changed host and verifies it, molecule's idempotence step finds nothing to change."""

from __future__ import annotations

import os
import re
import subprocess

import yaml

from tests.conftest import ROOT


def test_molecule_converges_the_role_idempotently_on_lab_hosts(clean_lab):
    lab = clean_lab
    touched = [h for h in lab.hosts if h.name in ("genesis-001", "genesis-002")]
    pids = {h.name: h.pid() for h in lab.hosts}
    env = dict(os.environ, GENESIS_LAB_INVENTORY=lab.inventory, NO_COLOR="1", ANSIBLE_NOCOLOR="1",
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([os.path.join(ROOT, ".venv", "bin", "molecule"), "test", "-s", "rolling_restart"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    # molecule's recap: the six actions of the sequence (syntax, cleanup, converge, idempotence, verify, cleanup)
    assert re.search(r"rolling_restart\s*:\s*actions=6\s+successful=6\s.*failed=0", out), out
    assert "idempotence" in out
    # converge and the final cleanup each restarted the two hosts; no other host was touched
    for host in lab.hosts:
        assert (host.pid() != pids[host.name]) == (host in touched), host.name
    for host in touched:
        with open(host.config, encoding="utf-8") as handle:
            assert yaml.safe_load(handle)["models"]["rollout_percentage"] == 100  # put back by cleanup
        assert lab.health(host)[1]["status"] == "ok"
