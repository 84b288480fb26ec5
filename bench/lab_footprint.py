"""Measure the lab's footprint: `lab up` and `lab down` times, memory and CPU of the fleet at idle.

    .venv/bin/python bench/lab_footprint.py full:3 full:100 light:100 light:1000
    GENESIS_LAB_NET=5 .venv/bin/python bench/lab_footprint.py light:1000

Each argument is MODE:N, or N for the default mode of N hosts. For each: `lab up --hosts N --mode
MODE`, let the load settle, then sample every lab process's CPU time over a window and sum their
memory: RSS (resident pages, a page shared by many processes counted in each) and PSS (each shared
page split among the processes that map it: the sum is what the fleet really takes). Prints a
Markdown table. Uses the lab of $GENESIS_LAB_NET (default 0), under the lock its test sessions
take, and replaces a running one.
"""
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lab import paths  # noqa: E402  pylint: disable=wrong-import-position
from lab.fleet import Fleet, default_mode  # noqa: E402  pylint: disable=wrong-import-position

TICK = os.sysconf("SC_CLK_TCK")
SETTLE_S = 30
SAMPLE_S = 30
DAEMONS = ("hostserver", "mistral", "prometheus")


def lab_pids(fleet):
    """Lab processes by role: the hosts' services, the light lab's host server, the simulator, Prometheus."""
    pids = {"hosts": [h.pid() for h in fleet.hosts() if h.pid()]}
    for name in DAEMONS:
        try:
            pids[name] = [int((fleet.state / f"{name}.pid").read_text(encoding="utf-8"))]
        except (OSError, ValueError):
            pids[name] = []
    return pids


def cpu_ticks(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def memory_mib(pid):
    """(RSS, PSS) of a process in MiB."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition(":")
            if name in ("Rss", "Pss"):
                found[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found.get("Rss", 0.0), found.get("Pss", 0.0)


def lab(*args):
    subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def measure(mode, count):
    load = os.getloadavg()[0]
    started = time.monotonic()
    lab("up", "--hosts", str(count), "--mode", mode)
    row = {"mode": mode, "n": count, "up_s": time.monotonic() - started, "load": load}
    fleet = Fleet()
    time.sleep(SETTLE_S)
    pids = lab_pids(fleet)
    before = {role: sum(cpu_ticks(p) for p in group) for role, group in pids.items()}
    time.sleep(SAMPLE_S)
    for role, group in pids.items():
        row[f"{role}_cpu"] = (sum(cpu_ticks(p) for p in group) - before[role]) / TICK / SAMPLE_S * 100
        memory = [memory_mib(p) for p in group]
        row[f"{role}_rss"], row[f"{role}_pss"] = sum(m[0] for m in memory), sum(m[1] for m in memory)
    started = time.monotonic()
    lab("down")
    row["down_s"] = time.monotonic() - started
    return row


def main():
    runs = []
    for arg in sys.argv[1:] or ["full:3", "full:100", "light:100", "light:1000"]:
        mode, _, count = arg.rpartition(":")
        runs.append((mode or default_mode(int(count)), int(count)))
    with open(os.path.join(tempfile.gettempdir(), f"genesis-lab-{paths.net()}.lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        print("| mode | hosts | `lab up` | `lab down` | hosts PSS (RSS) | PSS per host | hosts CPU | host server PSS / CPU "
              "| simulator PSS / CPU | Prometheus PSS / CPU | total PSS | total CPU | load before |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for mode, count in runs:
            r = measure(mode, count)
            total_pss = sum(r[f"{role}_pss"] for role in ("hosts",) + DAEMONS)
            total_cpu = sum(r[f"{role}_cpu"] for role in ("hosts",) + DAEMONS)
            server = f"{r['hostserver_pss']:.0f} MiB / {r['hostserver_cpu']:.0f}%" if mode == "light" else "-"
            print(f"| {mode} | {count} | {r['up_s']:.1f} s | {r['down_s']:.1f} s | {r['hosts_pss']:.0f} MiB "
                  f"({r['hosts_rss']:.0f} MiB) | {r['hosts_pss'] / count:.1f} MiB | {r['hosts_cpu']:.0f}% | {server} | "
                  f"{r['mistral_pss']:.0f} MiB / {r['mistral_cpu']:.0f}% | "
                  f"{r['prometheus_pss']:.0f} MiB / {r['prometheus_cpu']:.0f}% | {total_pss / 1024:.2f} GiB | {total_cpu:.0f}% | {r['load']:.1f} |",
                  flush=True)
    print(f"\nCPU: percent of one core, averaged over {SAMPLE_S} s after {SETTLE_S} s of settling (2 cores = 200%); "
          "load before: the machine's 1-minute load average before `lab up` (other work shares the 2 cores).")


if __name__ == "__main__":
    main()
