"""Measure the lab's footprint: time of `lab up`, RSS and CPU of the fleet, for each N given.

    .venv/bin/python bench/lab_footprint.py 3 100

For each N: `lab up --hosts N`, let the load settle, then sample every lab process's
CPU time over a window and sum their resident memory. Prints a Markdown table.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from lab.fleet import Fleet  # noqa: E402  pylint: disable=wrong-import-position

TICK = os.sysconf("SC_CLK_TCK")
SETTLE_S = 30
SAMPLE_S = 30


def lab_pids(fleet):
    """Lab processes by role: hosts, the simulator, Prometheus."""
    pids = {"hosts": [h.pid() for h in fleet.hosts() if h.pid()]}
    for name in ("mistral", "prometheus"):
        try:
            pids[name] = [int((fleet.state / f"{name}.pid").read_text())]
        except (OSError, ValueError):
            pids[name] = []
    return pids


def cpu_ticks(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(count):
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "lab", "up", "--hosts", str(count)], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    up_s = time.monotonic() - started
    fleet = Fleet()
    time.sleep(SETTLE_S)
    pids = lab_pids(fleet)
    before = {role: sum(cpu_ticks(p) for p in group) for role, group in pids.items()}
    time.sleep(SAMPLE_S)
    row = {"n": count, "up_s": up_s}
    for role, group in pids.items():
        row[f"{role}_cpu"] = (sum(cpu_ticks(p) for p in group) - before[role]) / TICK / SAMPLE_S * 100
        row[f"{role}_rss"] = sum(rss_mib(p) for p in group)
    subprocess.run([sys.executable, "-m", "lab", "down"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return row


def main():
    counts = [int(arg) for arg in sys.argv[1:]] or [3, 100]
    print("| hosts | `lab up` | hosts RSS | hosts CPU | simulator RSS / CPU | Prometheus RSS / CPU | total RSS | total CPU |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for count in counts:
        r = measure(count)
        total_rss = r["hosts_rss"] + r["mistral_rss"] + r["prometheus_rss"]
        total_cpu = r["hosts_cpu"] + r["mistral_cpu"] + r["prometheus_cpu"]
        print(f"| {count} | {r['up_s']:.1f} s | {r['hosts_rss']:.0f} MiB | {r['hosts_cpu']:.0f}% | "
              f"{r['mistral_rss']:.0f} MiB / {r['mistral_cpu']:.0f}% | {r['prometheus_rss']:.0f} MiB / {r['prometheus_cpu']:.0f}% | "
              f"{total_rss / 1024:.2f} GiB | {total_cpu:.0f}% |", flush=True)
    print(f"\nCPU: percent of one core, averaged over {SAMPLE_S} s after {SETTLE_S} s of settling (2 cores = 200%).")


if __name__ == "__main__":
    main()
