"""How fast the lab's Mistral simulator answers: chat requests per second against the lab's load.

    .venv/bin/python bench/mistral_sim_throughput.py [BURSTS] [CALLS]    (default 6 bursts of 100 calls)

Starts `python -m lab.mistral` on a free port with a state folder of its own, sends the bursts at once
(each on one keep-alive connection) and prints the rate and its ratio to the ~300 chat requests/s an
8-host lab sends: a ratio under 1 means the simulator would fall behind the lab.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from lab import paths  # noqa: E402  pylint: disable=wrong-import-position
from tests.lab.test_mistral_sim import _free_port, chat_bursts  # noqa: E402  pylint: disable=wrong-import-position

LAB_LOAD = 300  # chat requests/s of an 8-host lab


def main():
    bursts = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    with tempfile.TemporaryDirectory() as state:
        keys = paths.make_keys(Path(state))
        port = _free_port()
        process = subprocess.Popen([sys.executable, "-m", "lab.mistral", "--port", str(port), "--state-dir", state], cwd=REPO)
        try:
            deadline = time.monotonic() + 30
            while not (Path(state) / "mistral.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            started = time.monotonic()
            statuses = chat_bursts(port, keys["fleet"], bursts, calls)
            elapsed = time.monotonic() - started
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    rate = len(statuses) / elapsed
    print("%d chat calls (%d bursts at once) in %.2f s: %.0f/s, %.1fx the lab's load of %d/s; %d not 200"
          % (len(statuses), bursts, elapsed, rate, rate / LAB_LOAD, LAB_LOAD, sum(1 for s in statuses if s != 200)))


if __name__ == "__main__":
    main()
