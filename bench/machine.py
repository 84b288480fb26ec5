#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How fast this machine is today, in the unit the diagnosis pays per host: one Ansible module run.

The same machine has measured the same commit at half the speed on another day (docs/performance.md). The benches
print this line first, so that two tables can be compared:

- cores;
- a module run's CPU seconds: `ansible all -m ansible.builtin.ping` on 41 local hosts minus on 1, divided by 40
  (the controller's share of a host task and the module's own run, as host_evidence pays it per host);
- how busy the machine was already: the share of both cores other processes took while nothing was run (a second
  of /proc/stat).

    .venv/bin/python bench/machine.py
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSIBLE = os.path.join(ROOT, ".venv", "bin", "ansible")


def busy(seconds=1.0):
    """The share of all cores in use over a short while (/proc/stat)."""
    def read():
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    total0, idle0 = read()
    time.sleep(seconds)
    total1, idle1 = read()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def pings(hosts):
    """CPU seconds (this process's children) of one `ansible -m ping` over that many local hosts."""
    inventory = ",".join("bench-%03d" % i for i in range(hosts)) + ","
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([ANSIBLE, "all", "-i", inventory, "-c", "local", "-m", "ansible.builtin.ping", "-f", "5",
                    "-e", "ansible_python_interpreter=%s" % sys.executable],
                   check=True, capture_output=True, timeout=600,
                   env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg")))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main():
    load = busy()
    pings(1)  # warm the caches (the module's zip, the file system)
    one = min(pings(1) for _ in range(2))
    many = pings(41)
    print("machine: %d cores, %.0f%% busy before the bench; a module run %.2f CPU-s (ansible ping, local connection, "
          "40 hosts)" % (os.cpu_count(), 100 * load, (many - one) / 40))


if __name__ == "__main__":
    main()
