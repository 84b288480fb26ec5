"""The lab fleet: the Mistral simulator, N Genesis hosts, Prometheus and sshd, and the inventory.

Two modes. ``full``: every host a process of its own with the real ``mistralai`` SDK inside (50-70 MB
each), up to 253 hosts. ``light``: every host still its own service process (``python3
genesis_orchestrator.py`` in its app root, its pid file, its env file), a few MB each, served by one
shared host server (``lab/light.py``) whose synthetic traffic asks the simulator for each call's
answer; for fleets of hundreds or thousands of hosts.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import paths
from lab.catalog import LAB_AGENTS

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
HOST_PORT = 8080
SSH_PORT = 2222
SSH_MAX_HOSTS = 16  # sshd listens on 16 addresses at most (MAX_LISTEN_SOCKS)
MODES = ("full", "light")
MAX_HOSTS = {"full": 253, "light": 2000}
FULL_UP_TO = 100  # without --mode: full up to this many hosts, light past it
# Last octets 2..254 of each 127.N.a.0/24 block: .0, .1 and .255 stay unused (127.0.0.1 is the controller's).
HOSTS_PER_BLOCK = 253


def default_mode(count):
    return "full" if count <= FULL_UP_TO else "light"


def host_name(index):
    return f"genesis-{index:03d}"


def host_address(index, net):
    """Host ``index`` (1-based) of lab ``net``: 127.N.a.b, b from 2 to 254 in blocks a = 0, 1, ... 255.
    Lab N's hosts stay in 127.N.0.0/16, apart from every other lab's; hosts 1..253 are 127.N.0.2..254."""
    block, offset = divmod(index - 1, HOSTS_PER_BLOCK)
    if index < 1 or block > 255:
        raise ValueError(f"host index {index} is out of range: 1..{256 * HOSTS_PER_BLOCK}")
    return f"127.{net}.{block}.{offset + 2}"


def mistral_port(net):
    return 8600 + net


def prometheus_address(net):
    return f"127.0.0.1:{9090 + net}"


class Host:
    """One lab host: a folder that stands for the machine, with the contract's paths in it."""

    def __init__(self, state, index, net, light=False):
        self.index = index
        self.light = light
        self.name = host_name(index)
        self.address = host_address(index, net)
        self.machine = state / "hosts" / self.name
        self.app_root = self.machine / "opt" / "genesis"
        self.env_file = self.machine / "etc" / "genesis" / "genesis.env"
        self.fault_dir = self.machine / "lab"
        self.pid_file = self.app_root / "run" / "genesis-orchestrator.pid"
        self.config = self.app_root / "infrastructure" / "config" / "production.yaml"
        self.health_url = f"http://{self.address}:{HOST_PORT}"

    def pid(self):
        """The pid in the pid file when that process is alive, else None."""
        try:
            pid = int(self.pid_file.read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def install(self, key, settings, host_server=None):
        """Lay out the app root (contract section 1) and the env file; a light host (``host_server``: the
        light lab's socket) gets the service that registers there instead of the one with the SDK."""
        for folder in ("infrastructure/config", "scripts", "logs/finetuning", "run"):
            (self.app_root / folder).mkdir(parents=True, exist_ok=True)
        self.fault_dir.mkdir(parents=True, exist_ok=True)
        values = {"host": self.name, "address": self.address, "port": HOST_PORT, **settings}
        for agent, models in LAB_AGENTS.items():
            values[f"{agent}_ft"] = models["finetuned"]
            values[f"{agent}_base"] = models["baseline"]
        self.config.write_text((TEMPLATES / "production.yaml").read_text(encoding="utf-8").format(**values), encoding="utf-8")
        code = {"lab_python": sys.executable, "lab_prefix": sys.prefix, "lab_root": str(REPO),
                "fault_dir": str(self.fault_dir), "host_server": str(host_server)}
        service = "genesis_orchestrator_light.py" if host_server else "genesis_orchestrator.py"
        (self.app_root / "genesis_orchestrator.py").write_text(
            (TEMPLATES / service).read_text(encoding="utf-8").format(**code), encoding="utf-8")
        (self.app_root / "infrastructure" / "__init__.py").write_text("", encoding="utf-8")
        (self.app_root / "infrastructure" / "model_registry.py").write_text(
            (TEMPLATES / "model_registry.py").read_text(encoding="utf-8").format(**code), encoding="utf-8")
        shutil.copy(TEMPLATES / "rollout_models.py", self.app_root / "scripts" / "rollout_models.py")
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"MISTRAL_API_KEY={key}\n")

    def environment(self):
        """The service's environment: a plain one plus the env file's variables (contract section 2). Its
        `python3` is the lab's interpreter, first on PATH: no detour through a version manager's shim."""
        env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "/usr/bin:/bin")]),
               "LANG": "C.UTF-8"}
        for line in self.env_file.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                name, value = line.split("=", 1)
                env[name.strip()] = value.strip().strip('"').strip("'")
        return env

    def start(self):
        """Start the service in process mode, detached, as the contract says. A light host's service runs
        without site packages (`python3 -S`); started plainly, as an operator would, it re-executes itself so."""
        command = ["python3", "-S", "genesis_orchestrator.py"] if self.light else ["python3", "genesis_orchestrator.py"]
        with open(self.app_root / "logs" / "orchestrator.out", "ab") as out:
            subprocess.Popen(  # pylint: disable=consider-using-with
                command, cwd=self.app_root, env=self.environment(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)

    def health(self, timeout=2.0):
        """(HTTP status, parsed body) of /health, or (None, error text)."""
        return http_json(self.health_url + "/health", timeout=timeout)


def stop_all(hosts, sig=signal.SIGTERM, timeout=10.0):
    """Signal every host's service at once, wait for all, SIGKILL what is left; returns the pids stopped."""
    pids = [pid for pid in (host.pid() for host in hosts) if pid]
    for pid in pids:
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    return pids


def alive(pid):
    """Whether ``pid`` runs (a zombie, dead but not reaped yet, does not)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own children; harmless for others
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def http_json(url, method="GET", body=None, timeout=5.0):
    """(status, parsed JSON or text) for a lab URL; (None, reason) when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (lab URLs only)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        return None, str(getattr(err, "reason", err))
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class Fleet:
    """Everything `lab up` starts, found again from the state folder. ``net``: which lab (default ``$GENESIS_LAB_NET``)."""

    def __init__(self, state=None, net=None):
        self.net = paths.net() if net is None else net
        self.state = Path(state or paths.state_dir(self.net))
        self.meta_file = self.state / "fleet.json"
        self.host_server = self.state / "hosts.sock"
        self.inventory_dir = paths.inventory_dir(self.net)

    @property
    def meta(self):
        try:
            return json.loads(self.meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    @property
    def mistral_url(self):
        return f"http://127.0.0.1:{self.meta.get('mistral_port', mistral_port(self.net))}"

    @property
    def mode(self):
        return self.meta.get("mode", "full")

    def hosts(self):
        light = self.mode == "light"
        return [Host(self.state, i, self.net, light) for i in range(1, int(self.meta.get("hosts", 0)) + 1)]

    def _hosts_on_disk(self):
        """The hosts whose folders are in the state folder (when fleet.json is gone)."""
        names = (path.name for path in (self.state / "hosts").glob("genesis-*"))
        return [Host(self.state, int(name[len("genesis-"):]), self.net) for name in names if name[len("genesis-"):].isdigit()]

    def select(self, names):
        """Hosts named in ``names`` (all when empty); an unknown name is an error naming the known ones."""
        hosts = self.hosts()
        if not names:
            return hosts
        by_name = {h.name: h for h in hosts}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"unknown host(s) {', '.join(unknown)}; the lab has {hosts[0].name}..{hosts[-1].name}"
                             if hosts else "the lab is not up")
        return [by_name[n] for n in names]

    # -- up / down ----------------------------------------------------------------------
    def up(self, count, *, mode=None, ssh=False, prometheus=True, interval_s=None, window_s=None, timeout_s=3.0, log=print):
        mode = mode or default_mode(count)
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if not 1 <= count <= MAX_HOSTS[mode]:
            hint = "; --mode light goes further" if mode == "full" else ""
            raise ValueError(f"--hosts {count} is out of range for the {mode} mode: 1..{MAX_HOSTS[mode]}{hint}")
        if ssh and count > SSH_MAX_HOSTS:
            raise ValueError(f"--ssh works up to {SSH_MAX_HOSTS} hosts (sshd listens on {SSH_MAX_HOSTS} addresses at most), "
                             f"not {count}: leave --ssh out for a local connection per host")
        if mode == "light":
            # the host server holds per host a listener, its process's socket, 5 log files and Prometheus's connection
            files, allowed = 8 * count + 100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            if allowed < files:
                raise ValueError(f"{count} light hosts need about {files} open files in the host server; this machine "
                                 f"allows {allowed} (ulimit -Hn)")
            if len(str(self.host_server).encode()) > 107:
                raise ValueError(f"the state folder {self.state} is too deep for the host server's Unix socket "
                                 "(107 bytes at most): set GENESIS_LAB_DIR to a shorter one")
        # A full host's request costs it a few ms of CPU in the SDK: past 20 hosts the load per agent thins
        # out so that the fleet stays near 50 requests/s on 2 cores. A light host's costs ~0.1 ms in the host
        # server and the simulator: past 400 hosts the fleet stays near 1,000 requests/s. The window widens with the interval.
        interval_s = interval_s or max(2.0, count / (10 if mode == "full" else 200))
        window_s = window_s or max(20, round(10 * interval_s))
        if self.meta:
            log("lab: a lab is up already; taking it down first")
            self.down(log=lambda *_: None)
        started = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        keys = paths.make_keys(self.state)
        self.meta_file.write_text(json.dumps({"hosts": count, "mode": mode, "mistral_port": mistral_port(self.net),
                                              "window_s": window_s, "ssh": ssh, "prometheus": None}), encoding="utf-8")
        self._start_daemon("mistral", [sys.executable, "-m", "lab.mistral", "--host", "127.0.0.1",
                                       "--port", str(mistral_port(self.net)), "--state-dir", str(self.state)])
        _wait_for(lambda: http_json(self.mistral_url + "/_lab/faults", timeout=1)[0] == 200, 20, "the Mistral simulator")
        if mode == "light":
            self._start_daemon("hostserver", [sys.executable, "-m", "lab.light", "--socket", str(self.host_server)])
            _wait_for(self.host_server.exists, 20, "the light lab's host server")
        settings = {"server_url": self.mistral_url, "interval_s": interval_s, "window_s": window_s, "timeout_s": timeout_s}
        hosts = self.hosts()
        for host in hosts:
            host.install(keys["fleet"], settings, self.host_server if mode == "light" else None)
            host.start()
        wait_serving(hosts)
        meta = self.meta
        if prometheus and shutil.which("prometheus"):
            meta["prometheus"] = self._start_prometheus(hosts)
        elif prometheus:
            log("lab: prometheus is not installed: no Prometheus (apt-get install prometheus)")
        if ssh:
            meta["ssh_key"] = self._start_sshd(hosts)
        self.meta_file.write_text(json.dumps(meta), encoding="utf-8")
        self.write_inventory()
        log(f"lab: {count} {mode} host(s) up in {time.monotonic() - started:.1f}s (a request per agent every {interval_s:g}s, "
            f"health window {window_s}s); Mistral simulator {self.mistral_url}"
            + (f"; Prometheus http://{meta['prometheus']}" if meta.get("prometheus") else "")
            + (f"; sshd on port {SSH_PORT}" if ssh else ""))
        log(f"lab: inventory {self.inventory_dir.relative_to(REPO)}/hosts.yml")

    def down(self, log=print):
        stopped = len(stop_all(self.hosts() or self._hosts_on_disk()))
        for name in ("prometheus", "sshd", "hostserver", "mistral"):
            self._stop_daemon(name)
        if self.state.exists():
            # host by host in parallel: deleting a thousand hosts' files one after the other waits on the
            # disk for each (a minute here), in parallel the waits overlap (seconds)
            with ThreadPoolExecutor(max_workers=32) as pool:
                list(pool.map(lambda folder: shutil.rmtree(folder, ignore_errors=True), self.state.glob("hosts/*")))
            shutil.rmtree(self.state, ignore_errors=True)
        for generated in (self.inventory_dir / "hosts.yml", self.inventory_dir / "group_vars" / "genesis" / "lab.yml"):
            generated.unlink(missing_ok=True)
        log(f"lab: down ({stopped} host process(es) stopped)")

    def _start_daemon(self, name, argv, cwd=None):
        out = open(self.state / f"{name}.out", "ab")  # pylint: disable=consider-using-with
        proc = subprocess.Popen(argv, cwd=cwd or REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=out,  # pylint: disable=consider-using-with
                                start_new_session=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
        (self.state / f"{name}.pid").write_text(f"{proc.pid}\n", encoding="utf-8")
        return proc

    def _stop_daemon(self, name):
        try:
            pid = int((self.state / f"{name}.pid").read_text(encoding="utf-8").strip())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)

    def _start_prometheus(self, hosts):
        folder = self.state / "prometheus"
        folder.mkdir(exist_ok=True)
        targets = ",\n".join(f'        {{"targets": ["{h.address}:{HOST_PORT}"], "labels": {{"instance": "{h.name}"}}}}'
                             for h in hosts)
        (folder / "targets.json").write_text(f"[\n{targets}\n]\n", encoding="utf-8")
        # Every 5 s; 15 s past 200 hosts, where scrapes every 5 s would cost Prometheus and the hosts ~15% of a core.
        scrape = "5s" if len(hosts) <= 200 else "15s"
        (folder / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {scrape}\n  evaluation_interval: {scrape}\n"
            "scrape_configs:\n  - job_name: genesis\n    file_sd_configs:\n"
            f"      - files: ['{folder / 'targets.json'}']\n", encoding="utf-8")
        self._start_daemon("prometheus", ["prometheus", f"--config.file={folder / 'prometheus.yml'}",
                                          f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address={prometheus_address(self.net)}",
                                          "--storage.tsdb.retention.time=1d"], cwd=folder)
        _wait_for(lambda: http_json(f"http://{prometheus_address(self.net)}/-/ready", timeout=1)[0] == 200, 30, "Prometheus")
        return prometheus_address(self.net)

    def _start_sshd(self, hosts):
        folder = self.state / "ssh"
        folder.mkdir(mode=0o700, exist_ok=True)
        key = folder / "id_ed25519"
        for path, kind in ((key, "ed25519"), (folder / "ssh_host_ed25519_key", "ed25519")):
            subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "genesis-lab", "-f", str(path)], check=True)
        shutil.copy(f"{key}.pub", folder / "authorized_keys")
        listen = "\n".join(f"ListenAddress {h.address}:{SSH_PORT}" for h in hosts)
        (folder / "sshd_config").write_text(
            f"{listen}\nHostKey {folder / 'ssh_host_ed25519_key'}\nPidFile {folder / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\n"
            "Subsystem sftp internal-sftp\nMaxStartups 200:30:400\nMaxSessions 200\n", encoding="utf-8")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self._start_daemon("sshd", [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-f", str(folder / "sshd_config"),
                                    "-E", str(folder / "sshd.log")])
        return str(key)

    # -- inventory ----------------------------------------------------------------------
    def write_inventory(self):
        """inventories/lab/hosts.yml (lab N: inventories/lab-N/): the group `genesis` with every host's contract variables."""
        meta, hosts = self.meta, self.hosts()
        lines = ["# Written by `python -m lab up`; rewritten at every `lab up`, removed by `lab down`.",
                 "all:", "  children:", "    genesis:", "      hosts:"]
        for host in hosts:
            lines += [f"        {host.name}:",
                      f"          ansible_host: {host.address}",
                      f"          genesis_app_root: {host.app_root}",
                      f"          genesis_env_file: {host.env_file}",
                      f"          genesis_health_url: {host.health_url}"]
        lines += ["      vars:"]
        if meta.get("ssh_key"):
            lines += ["        ansible_connection: ssh", "        ansible_user: root", f"        ansible_port: {SSH_PORT}",
                      f"        ansible_ssh_private_key_file: {meta['ssh_key']}",
                      "        ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                      f"        ansible_python_interpreter: {sys.executable}"]
        else:
            lines += ["        ansible_connection: local", f"        ansible_python_interpreter: {sys.executable}"]
        lines += ["        genesis_service_manager: process",
                  f"        genesis_prometheus_url: {'http://' + meta['prometheus'] if meta.get('prometheus') else ''!r}",
                  f"        mistral_server_url: {self.mistral_url}",
                  "        # The lab's fleet key, read from the lab's secrets file; never printed.",
                  "        mistral_api_key: \"{{ (lookup('ansible.builtin.file', '"
                  + str(paths.keys_file(self.state)) + "') | from_json).fleet }}\""]
        self.inventory_dir.mkdir(parents=True, exist_ok=True)
        (self.inventory_dir / "hosts.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- faults and status --------------------------------------------------------------
    def restart(self, hosts):
        stop_all(hosts)
        for host in hosts:
            host.start()
        wait_serving(hosts)

    def status(self, hosts=None):
        """Every host's (or ``hosts``') pid and health, the simulator's faults, Prometheus."""
        def one(host):
            code, body = host.health()
            return {"host": host.name, "address": host.address, "pid": host.pid(),
                    "health": body.get("status") if isinstance(body, dict) else ("unreachable" if code is None else f"HTTP {code}"),
                    "start_failure": (host.fault_dir / "start_failure").exists()}
        with ThreadPoolExecutor(max_workers=32) as pool:
            rows = list(pool.map(one, self.hosts() if hosts is None else hosts))
        code, faults = http_json(self.mistral_url + "/_lab/faults", timeout=2)
        return {"mode": self.mode, "hosts": rows, "mistral": self.mistral_url if code == 200 else None,
                "faults": faults.get("faults", []) if code == 200 else [], "prometheus": self.meta.get("prometheus")}


def wait_serving(hosts):
    """Wait until every host's /health answers (200 or 503), all at once; TimeoutError names those that do not."""
    pending = list(hosts)
    deadline = time.monotonic() + max(120, len(pending) * 0.3)
    with ThreadPoolExecutor(max_workers=32) as pool:
        while pending:
            serving = list(pool.map(lambda h: h.health(timeout=2)[0] in (200, 503), pending))
            pending = [host for host, up in zip(pending, serving) if not up]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} host(s) did not come up in time: "
                                   + ", ".join(h.name for h in pending[:10]) + (" ..." if len(pending) > 10 else ""))
            if pending:
                time.sleep(0.5)


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {timeout}s")
