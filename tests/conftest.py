"""Shared test fixtures: the collection importable as ansible_collections.genesis.model_ops,
and the lab (a fleet of simulated Genesis hosts) for the tests that need it."""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

LAB_HOSTS = 8


def _lab_net():
    """One lab per pytest-xdist worker (gw0 -> lab 1, gw1 -> lab 2, ...), each on its own addresses and
    ports; without workers, $GENESIS_LAB_NET (default 0, the lab `make demo` uses)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        return str(int(worker[2:]) + 1)
    return os.environ.get("GENESIS_LAB_NET") or "0"


# set before anything imports the lab: `python -m lab` subprocesses inherit it
os.environ["GENESIS_LAB_NET"] = _lab_net()


def lab_inventory():
    """The inventory `lab up` wrote for this session's lab."""
    from lab import paths  # pylint: disable=import-outside-toplevel
    return str(paths.inventory_dir() / "hosts.yml")


def next_command(playbook, *args):
    """A next command as a diagnosis of this session's lab names it: with -i <its inventory> when that is not
    the clone's default (ansible.cfg), then ``args`` (such as --limit hosts)."""
    inventory = lab_inventory()
    default = os.path.join(ROOT, "inventories", "lab", "hosts.yml")
    return " ".join(["ansible-playbook", playbook] + (["-i", inventory] if inventory != default else []) + list(args))


def build_collection(dest):
    """The collection's tarball, built from this checkout into ``dest`` as `make build` builds it; its path."""
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-galaxy"), "collection", "build",
                    "--output-path", str(dest), ROOT], check=True, capture_output=True, timeout=300)
    (tarball,) = [os.path.join(str(dest), name) for name in os.listdir(str(dest)) if name.endswith(".tar.gz")]
    return tarball


def lab_cli(*args, check=True):
    """Run `python -m lab ...` from the clone; returns the completed process."""
    proc = subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"lab {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc


def get_json(url, timeout=5):
    """(status, body) of a GET; (None, reason) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
    except (urllib.error.URLError, OSError) as err:
        return None, str(err)


def wait_until(predicate, timeout, interval=0.5, what="condition"):
    """Poll ``predicate`` until it returns True (or another truthy value that is not a dict: a dict
    describes what is still pending); fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last is True or (last and not isinstance(last, dict)):
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


class Lab:
    """The running lab as tests see it: its hosts, inventory and CLI."""

    def __init__(self, hosts):
        from lab.fleet import Fleet  # pylint: disable=import-outside-toplevel
        self.fleet = Fleet()
        self.hosts = self.fleet.hosts()
        assert len(self.hosts) == hosts
        self.inventory = lab_inventory()

    @staticmethod
    def cli(*args, check=True):
        return lab_cli(*args, check=check)

    @staticmethod
    def health(host):
        code, body = get_json(host.health_url + "/health", timeout=5)
        return code, body if isinstance(body, dict) else {"status": "unreachable", "error": body}

    def clear(self):
        lab_cli("clear")


@pytest.fixture(scope="session")
def lab():
    """One lab for the whole test session. The lab's addresses are fixed, so a session holds a lock
    for as long as it uses the lab: a second test session waits for it instead of taking its lab over."""
    lock_name = "genesis-lab-%s.lock" % os.environ["GENESIS_LAB_NET"]
    with open(os.path.join(tempfile.gettempdir(), lock_name), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # a 10 s health window (half the lab's default): a cleared fault leaves twice as fast; a request per
        # agent every 3 s (13 requests/s per lab, about 0.09 of a core: make integration runs three labs side by side
        # on a machine its tests keep busy; every 2 s the labs took a fifth of its two cores)
        lab_cli("up", "--hosts", str(LAB_HOSTS), "--ssh", "--interval", "3", "--window", "10")
        try:
            yield Lab(LAB_HOSTS)
        finally:
            lab_cli("down", check=False)


@pytest.fixture
def clean_lab(lab):
    """The lab with no fault at the start and the end of a test, every host healthy."""
    lab.clear()
    # a host that is not ok yet still holds the last test's errors in its health window: a restart
    # starts it with an empty one (seconds, instead of a window's length of waiting)
    unhealthy = [h.name for h in lab.hosts if lab.health(h)[1].get("status") != "ok"]
    if unhealthy:
        lab.cli("restart", "--hosts", ",".join(unhealthy))
    wait_until(lambda: all(lab.health(h)[1].get("status") == "ok" for h in lab.hosts), 60, what="a healthy lab")
    configs = {h.name: h.config.read_bytes() for h in lab.hosts}
    yield lab
    lab.clear()
    # A test that changes a host puts it back (test_rollback's fleet fixture does, before this runs): a config
    # left changed would make the next tests on this lab fail for no fault of theirs. Put back, and say which.
    left = sorted(h.name for h in lab.hosts if h.config.read_bytes() != configs[h.name])
    if left:
        for host in lab.hosts:
            if host.name in left:
                host.config.write_bytes(configs[host.name])
        lab.cli("restart", "--hosts", ",".join(left))
        pytest.fail("the test left the config of %s changed (put back now): undo its changes in a fixture, as "
                    "test_rollback's fleet does" % ", ".join(left))


@pytest.fixture
def home():
    """A fresh HOME, short as a CI runner's (/home/runner): ssh's ControlPath socket under ~/.ansible/cp must fit
    in 108 bytes, and a HOME under pytest's tmp_path on an xdist worker makes it longer (every host unreachable)."""
    path = tempfile.mkdtemp(prefix="home-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def checkout_files():
    """The files a clone of this checkout holds: tracked, or new and not ignored (the work in progress)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    # .venv may be a link to another clone's venv (not matched by .gitignore's .venv/): never part of the tree
    return {path for path in out.split("\0") if path and path != ".venv" and os.path.lexists(os.path.join(ROOT, path))}


def copy_checkout(dest, venv=True):
    """A clean clone's tree of this checkout, with its uncommitted changes, in ``dest``; the venv linked."""
    for path in checkout_files():
        target = os.path.join(dest, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, path), target, follow_symlinks=False)
    if venv:
        os.symlink(os.path.join(ROOT, ".venv"), os.path.join(dest, ".venv"))
    return dest

