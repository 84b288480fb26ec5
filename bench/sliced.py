#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A sliced diagnosis against the unsliced one, on a lab of N hosts: what slicing costs and what it buys.

Through ansible-runner (AWX's engine), with the clone's collection: diagnose.yml once on the whole lab, then as AWX
slices it into K jobs (slice k of K: the hosts ordered by name, [k-1::K]; model_ops_stage=gather), one after
another here, and the merge (model_ops_stage=merge, the slices' set_stats artifacts as extra variables). On K
execution nodes the slices would run side by side: the wall time there is the slowest slice plus the merge. Prints
the times, the merge's share, and the verdict and API calls of both (which must be equal).

    .venv/bin/python bench/sliced.py                   # N = 100 (per host), K = 4
    N=1000 K=4 PROBE=controller .venv/bin/python bench/sliced.py

Uses the default lab (it replaces a running one) under the lab lock the tests use.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ["GENESIS_LAB_NET"] = "0"

import ansible_runner  # noqa: E402  pylint: disable=wrong-import-position

PY = os.path.join(ROOT, ".venv", "bin", "python")
INVENTORY = os.path.join(ROOT, "inventories", "lab", "hosts.yml")
MISTRAL_LOG = os.path.join(ROOT, ".lab", "mistral.log")


def lab(*args):
    subprocess.run([PY, "-m", "lab", *args], cwd=ROOT, check=True, capture_output=True, text=True, timeout=900)


def api_calls():
    try:
        with open(MISTRAL_LOG, encoding="utf-8") as handle:
            return sum(1 for line in handle if len(line.split()) > 3 and line.split()[1] == "127.0.0.1"
                       and line.split()[3].startswith("/v1/"))
    except FileNotFoundError:
        return 0


def job(work, ident, inventory, extravars):
    """One job through ansible-runner: (seconds, set_stats artifacts, report or None)."""
    private = os.path.join(work, "job-%d" % ident)
    os.makedirs(private)
    path = os.path.join(private, "hosts.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    reports = os.path.join(work, "reports-%d" % ident)
    start = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=private, project_dir=ROOT, playbook="diagnose.yml", inventory=path, quiet=True,
        extravars=dict(extravars, awx_job_id=ident, model_ops_report_dir=reports),
        envvars={"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
                 "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"]})
    took = time.monotonic() - start
    if runner.rc != 0:
        raise SystemExit("sliced: job %d failed:\n%s" % (ident, runner.stdout.read()[-4000:]))
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    artifacts = stats[-1]["event_data"].get("artifact_data") or {}
    report = os.path.join(reports, "diagnosis-latest.json")
    if os.path.exists(report):
        with open(report, encoding="utf-8") as handle:
            return took, artifacts, json.load(handle)
    return took, artifacts, None


def main():
    machine = subprocess.run([PY, os.path.join(ROOT, "bench", "machine.py")], capture_output=True, text=True,
                             check=True, timeout=600).stdout  # how fast the machine is today
    count, slices, probe = int(os.environ.get("N", "100")), int(os.environ.get("K", "4")), os.environ.get("PROBE", "host")
    work = tempfile.mkdtemp()
    with open(os.path.join(tempfile.gettempdir(), "genesis-lab-0.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lab("up", "--hosts", str(count))
        try:
            lab("fault", "rate_limit", "--hosts", "genesis-001")
            lab("wait", "--hosts", "genesis-001", "--status", "degraded", "--timeout", "120")
            with open(INVENTORY, encoding="utf-8") as handle:
                whole = yaml.safe_load(handle)
            names = sorted(whole["all"]["children"]["genesis"]["hosts"])
            calls = api_calls()
            unsliced, _artifacts, report = job(work, 1, whole, {"model_ops_probe": probe})
            unsliced_calls = api_calls() - calls
            times, handed = [], {}
            for number in range(1, slices + 1):
                part = json.loads(json.dumps(whole))
                hosts = part["all"]["children"]["genesis"]["hosts"]
                part["all"]["children"]["genesis"]["hosts"] = dict((name, hosts[name]) for name in names[number - 1::slices])
                took, artifacts, _none = job(work, 100 + number, part, {"model_ops_probe": probe, "model_ops_stage": "gather"})
                times.append(took)
                handed.update(artifacts)
            calls = api_calls()
            merge, _artifacts, merged = job(work, 200, whole, dict(handed, model_ops_probe=probe, model_ops_stage="merge"))
            merge_calls = api_calls() - calls
        finally:
            lab("down")
            shutil.rmtree(work, ignore_errors=True)
    same = (merged["verdict"], [(s["scenario"], s["hosts"]) for s in merged["scenarios"]]) == \
        (report["verdict"], [(s["scenario"], s["hosts"]) for s in report["scenarios"]])
    print(machine)
    print("| hosts | probe | unsliced | slices (K = %d, each) | merge | on %d nodes: slowest slice + merge | / unsliced | "
          "verdict, scenarios and hosts the same | API calls: unsliced, merge |" % (slices, slices))
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    print("| %d | %s | %.1f s | %s | %.1f s | %.1f s | %.2fx | %s | %d, %d |" % (
        count, probe, unsliced, ", ".join("%.1f s" % t for t in times), merge, max(times) + merge,
        (max(times) + merge) / unsliced, "yes" if same else "NO", unsliced_calls, merge_calls))


if __name__ == "__main__":
    main()
