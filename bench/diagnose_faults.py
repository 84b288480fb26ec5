"""diagnose.yml under each of the lab's API faults, against the same fleet healthy: wall time and its ratio to
the healthy run, the Mistral API stage's own time, and the API calls (the report's count and the simulator's
request log, which must agree) against the budget of one call per distinct key and model id.

    .venv/bin/python bench/diagnose_faults.py                  # 8 hosts, each fault once, the healthy run before each
    HOSTS=20 ROUNDS=3 .venv/bin/python bench/diagnose_faults.py

GENESIS_LAB_NET picks the lab (default 0); the script brings it up and takes it down, under the lock the test
sessions take for that lab. Prints a Markdown table.
"""

import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import paths  # noqa: E402  pylint: disable=wrong-import-position

PYTHON = ROOT / ".venv" / "bin" / "python"
HOSTS = int(os.environ.get("HOSTS", "8"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
# fault: the lab command that injects it (the healthy run has none), and whether it shows on the hosts' /health
# (a 2 s delay is within the hosts' 3 s timeout: their calls succeed, slowly)
FAULTS = {
    "healthy": (None, False),
    "rate_limit (the fine-tuned models' quota)": (["rate_limit"], True),
    "rate_limit (the key's quota)": (["rate_limit", "--quota", "key"], True),
    "server_error": (["server_error"], True),
    "slow (2 s)": (["slow", "--delay", "2"], False),
    "hang": (["hang"], True),
    "complete_failure": (["complete_failure"], True),
}


def lab(*args):
    return subprocess.run([str(PYTHON), "-m", "lab", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def controller_calls(log):
    """The /v1 requests from the controller's address in the simulator's log so far."""
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text(encoding="utf-8").splitlines()
               if len(line.split()) > 3 and line.split()[1] == "127.0.0.1" and line.split()[3].startswith("/v1/"))


def diagnose(reports):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), PATH="%s:%s" % (ROOT / ".venv" / "bin", os.environ["PATH"]))
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", str(paths.inventory_dir() / "hosts.yml"), "diagnose.yml",
                           "-e", "model_ops_report_dir=%s" % reports], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if proc.returncode:
        sys.exit("bench: diagnose.yml failed:\n%s" % proc.stdout[-3000:])
    report = json.loads((Path(reports) / "diagnosis-latest.json").read_text(encoding="utf-8"))
    return wall, report


def one(fault, reports, log):
    lab("clear")
    lab("restart")  # an empty health window: every fault starts from the same healthy fleet
    lab("wait", "--timeout", "60")
    command, shows = FAULTS[fault]
    if command:
        lab("fault", *command)
    if shows:
        lab("wait", "--status", "degraded,down", "--timeout", "60")
    before = controller_calls(log)
    wall, report = diagnose(reports)
    lab("clear")  # a hung request is logged once it is released
    time.sleep(0.5)
    keys = report["mistral"]["keys"].values()
    return {"wall": wall, "api_s": sum(key.get("elapsed_s") or 0 for key in keys),
            "waited": sum(key.get("retry_wait_s") or 0 for key in keys),
            "calls": report["api_calls"], "seen": controller_calls(log) - before,
            "budget": len(report["mistral"]["keys"]) + len(report["mistral"]["models"]), "verdict": report["verdict"]}


def main():
    net = os.environ.setdefault("GENESIS_LAB_NET", "0")
    with open(os.path.join(tempfile.gettempdir(), "genesis-lab-%s.lock" % net), "w", encoding="utf-8") as lock, \
            tempfile.TemporaryDirectory() as reports:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lab("up", "--hosts", str(HOSTS), "--interval", "2", "--window", "10")
        log = paths.state_dir() / "mistral.log"
        try:
            rows = {}
            for _round in range(ROUNDS):
                for fault in os.environ.get("FAULTS", ",".join(FAULTS)).split(","):
                    rows.setdefault(fault, []).append(one(fault, reports, log))
        finally:
            lab("down")
    healthy = statistics.median(run["wall"] for run in rows["healthy"])
    print("| fault (%d hosts) | verdict | wall time | / healthy | API stage | retry wait | API calls: report, simulator | budget |" % HOSTS)
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fault, runs in rows.items():
        wall = statistics.median(run["wall"] for run in runs)
        print("| %s | %s | %.1f s | %.2fx | %.1f s | %.1f s | %s, %s | <= %s |" % (
            fault, runs[-1]["verdict"], wall, wall / healthy, statistics.median(run["api_s"] for run in runs),
            max(run["waited"] for run in runs), "/".join(sorted({str(run["calls"]) for run in runs})),
            "/".join(sorted({str(run["seen"]) for run in runs})), runs[-1]["budget"]))


if __name__ == "__main__":
    main()
