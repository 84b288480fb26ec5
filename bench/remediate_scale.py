#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A rolling change of a large fleet against the raw time it cannot beat.

On a lab of N hosts (default 100, the lab's light mode) every host healthy, it measures:
- raw: one host's restart-and-healthy time without Ansible: the lab restarts its service, then the collection's own
  health wait (HealthProbe.wait_healthy against the health just before, as the rolling restart waits: the host
  answers and no agent is worse, every agent with a request on its model since the restart), averaged over a few
  hosts; times the number of waves, that is what any rolling change at that serial must wait at least;
- the change: `ansible-playbook rollback.yml -e pct=50 -e model_ops_serial=10%` (every host changed, restarted
  and verified, wave after wave, with the lock, backup, audit and report of every change);
and prints the overhead ratio, change / (raw per host x waves). The issue's target: at most 1.5x.

    .venv/bin/python bench/remediate_scale.py            # N = 100, serial 10%
    N=50 SERIAL=20% .venv/bin/python bench/remediate_scale.py

Uses the default lab (it replaces a running one) under the lab lock the tests use; takes about 5 minutes.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".collections"))
os.environ["GENESIS_LAB_NET"] = "0"

from ansible_collections.genesis.model_ops.plugins.module_utils._health import HealthProbe  # noqa: E402
from lab.fleet import Fleet  # noqa: E402

PY = os.path.join(ROOT, ".venv", "bin", "python")
INTERVAL = 2  # the rolling restart's wait interval (roles/rolling_restart/defaults: rolling_restart_interval)


def lab(*args):
    subprocess.run([PY, "-m", "lab", *args], cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)


def raw_restart(host):
    """Seconds from a restart of the host's service to the rolling restart's criterion of healthy."""
    probe = HealthProbe(timeout=10)
    before = probe.probe(host.health_url)
    start = time.monotonic()
    lab("restart", "--hosts", host.name)
    result = probe.wait_healthy(host.health_url, 120, INTERVAL, baseline=before)
    if result.get("worse") or result.get("idle"):
        raise SystemExit("remediate_scale: %s did not come back: %s" % (host.name, result))
    return time.monotonic() - start


def main():
    machine = subprocess.run([PY, os.path.join(ROOT, "bench", "machine.py")], capture_output=True, text=True,
                             check=True, timeout=600).stdout  # how fast the machine is today
    count, serial = int(os.environ.get("N", "100")), os.environ.get("SERIAL", "10%")
    per_wave = max(1, int(count * float(serial[:-1]) / 100)) if serial.endswith("%") else int(serial)
    waves = math.ceil(count / per_wave)
    with open(os.path.join(tempfile.gettempdir(), "genesis-lab-0.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lab("up", "--hosts", str(count), "--mode", "light")
        try:
            hosts = Fleet().hosts()
            lab("wait", "--status", "ok", "--timeout", "180")
            raws = [raw_restart(host) for host in hosts[:5]]
            raw = sum(raws) / len(raws)
            lab("wait", "--status", "ok", "--timeout", "180")
            reports = tempfile.mkdtemp()
            env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                       PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"])
            start = time.monotonic()
            proc = subprocess.run(["ansible-playbook", "rollback.yml", "-e", "pct=50", "-e", "model_ops_serial=%s" % serial,
                                   "-e", "model_ops_report_dir=%s" % reports], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=3600, check=False)
            took = time.monotonic() - start
            if proc.returncode != 0:
                raise SystemExit("remediate_scale: rollback.yml failed:\n" + proc.stdout[-4000:])
            with open(os.path.join(reports, "remediation-latest.json"), encoding="utf-8") as handle:
                report = json.load(handle)
            changed = sum(1 for record in report["records"] if (record.get("restart") or {}).get("restarted"))
            if report["failed_hosts"] or changed != count:
                raise SystemExit("remediate_scale: %d of %d hosts restarted, failed: %s" % (changed, count, report["failed_hosts"]))
        finally:
            lab("down")
    print(machine)
    print("| hosts | serial | waves | raw restart-and-healthy, one host | raw x waves | rollback.yml | hosts restarted | overhead |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("| %d | %s | %d | %.1f s (%s) | %.1f s | %.1f s | %d | %.2fx |" % (
        count, serial, waves, raw, ", ".join("%.1f" % r for r in raws), raw * waves, took, changed, took / (raw * waves)))


if __name__ == "__main__":
    main()
