"""The lab fleet: the Mistral simulator, N Genesis hosts, Prometheus and sshd, and the inventory."""

import json
import os
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
MAX_HOSTS = 253


def host_name(index):
    return f"genesis-{index:03d}"


def host_address(index):
    return f"127.{paths.net()}.0.{index + 1}"


def mistral_port():
    return 8600 + paths.net()


def prometheus_address():
    return f"127.0.0.1:{9090 + paths.net()}"


class Host:
    """One lab host: a folder that stands for the machine, with the contract's paths in it."""

    def __init__(self, state, index):
        self.index = index
        self.name = host_name(index)
        self.address = host_address(index)
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
        return pid if _alive(pid) else None

    def install(self, key, settings):
        """Lay out the app root (contract section 1) and the env file."""
        for folder in ("infrastructure/config", "scripts", "logs/finetuning", "run"):
            (self.app_root / folder).mkdir(parents=True, exist_ok=True)
        self.fault_dir.mkdir(parents=True, exist_ok=True)
        values = {"host": self.name, "address": self.address, "port": HOST_PORT, **settings}
        for agent, models in LAB_AGENTS.items():
            values[f"{agent}_ft"] = models["finetuned"]
            values[f"{agent}_base"] = models["baseline"]
        self.config.write_text((TEMPLATES / "production.yaml").read_text(encoding="utf-8").format(**values), encoding="utf-8")
        code = {"lab_python": sys.executable, "lab_root": str(REPO), "fault_dir": str(self.fault_dir)}
        (self.app_root / "genesis_orchestrator.py").write_text(
            (TEMPLATES / "genesis_orchestrator.py").read_text(encoding="utf-8").format(**code), encoding="utf-8")
        (self.app_root / "infrastructure" / "__init__.py").write_text("", encoding="utf-8")
        (self.app_root / "infrastructure" / "model_registry.py").write_text(
            (TEMPLATES / "model_registry.py").read_text(encoding="utf-8").format(**code), encoding="utf-8")
        shutil.copy(TEMPLATES / "rollout_models.py", self.app_root / "scripts" / "rollout_models.py")
        self.env_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"MISTRAL_API_KEY={key}\n")

    def environment(self):
        """The service's environment: a plain one plus the env file's variables (contract section 2)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        for line in self.env_file.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                name, value = line.split("=", 1)
                env[name.strip()] = value.strip().strip('"').strip("'")
        return env

    def start(self):
        """Start the service in process mode, detached, as the contract says."""
        with open(self.app_root / "logs" / "orchestrator.out", "ab") as out:
            subprocess.Popen(  # pylint: disable=consider-using-with
                ["python3", "genesis_orchestrator.py"], cwd=self.app_root, env=self.environment(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the service through its pid file; SIGKILL when it does not go in time."""
        return bool(stop_all([self], sig, timeout))

    def health(self, timeout=2.0):
        """(HTTP status, parsed body) of /health, or (None, error text)."""
        return http_json(self.health_url + "/health", timeout=timeout)


def stop_all(hosts, sig=signal.SIGTERM, timeout=10.0):
    """Signal every host's service at once, wait for all, SIGKILL what is left; returns the pids stopped."""
    pids = [pid for pid in (host.pid() for host in hosts) if pid]
    for pid in pids:
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    return pids


def _alive(pid):
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
    """Everything `lab up` starts, found again from the state folder."""

    def __init__(self, state=None):
        self.state = Path(state or paths.state_dir())
        self.meta_file = self.state / "fleet.json"

    @property
    def meta(self):
        try:
            return json.loads(self.meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    @property
    def mistral_url(self):
        return f"http://127.0.0.1:{self.meta.get('mistral_port', mistral_port())}"

    def hosts(self):
        return [Host(self.state, i) for i in range(1, int(self.meta.get("hosts", 0)) + 1)]

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
    def up(self, count, ssh=False, prometheus=True, interval_s=None, window_s=None, timeout_s=3.0, log=print):
        if not 1 <= count <= MAX_HOSTS:
            raise ValueError(f"--hosts {count} is out of range: 1..{MAX_HOSTS}")
        # Every request costs a host a few ms of CPU in the SDK: past 20 hosts the load per agent
        # thins out so the fleet stays near 50 requests/s on 2 cores, and the window widens with it.
        interval_s = interval_s or max(2.0, count / 10)
        window_s = window_s or max(20, round(10 * interval_s))
        if self.meta:
            log("lab: a lab is up already; taking it down first")
            self.down(log=lambda *_: None)
        started = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        keys = paths.make_keys(self.state)
        self.meta_file.write_text(json.dumps({"hosts": count, "mistral_port": mistral_port(), "ssh": ssh,
                                              "prometheus": None}), encoding="utf-8")
        self._start_daemon("mistral", [sys.executable, "-m", "lab.mistral", "--host", "127.0.0.1",
                                       "--port", str(mistral_port()), "--state-dir", str(self.state)])
        _wait_for(lambda: http_json(self.mistral_url + "/_lab/faults", timeout=1)[0] == 200, 20, "the Mistral simulator")
        settings = {"server_url": self.mistral_url, "interval_s": interval_s, "window_s": window_s, "timeout_s": timeout_s}
        hosts = self.hosts()
        for host in hosts:
            host.install(keys["fleet"], settings)
            host.start()
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda h: _wait_for(lambda: h.health(timeout=1)[0] in (200, 503), 120, h.name), hosts))
        meta = self.meta
        if prometheus and shutil.which("prometheus"):
            meta["prometheus"] = self._start_prometheus(hosts)
        elif prometheus:
            log("lab: prometheus is not installed: no Prometheus (apt-get install prometheus)")
        if ssh:
            meta["ssh_key"] = self._start_sshd(hosts)
        self.meta_file.write_text(json.dumps(meta), encoding="utf-8")
        self.write_inventory()
        log(f"lab: {count} host(s) up in {time.monotonic() - started:.1f}s (a request per agent every {interval_s:g}s, "
            f"health window {window_s}s); Mistral simulator {self.mistral_url}"
            + (f"; Prometheus http://{meta['prometheus']}" if meta.get("prometheus") else "")
            + (f"; sshd on port {SSH_PORT}" if ssh else ""))
        log(f"lab: inventory {paths.inventory_dir().relative_to(REPO)}/hosts.yml")

    def down(self, log=print):
        stopped = len(stop_all(self.hosts() or [Host(self.state, i) for i in range(1, MAX_HOSTS + 1)]))
        for name in ("prometheus", "sshd", "mistral"):
            self._stop_daemon(name)
        if self.state.exists():
            shutil.rmtree(self.state, ignore_errors=True)
        for generated in (paths.inventory_dir() / "hosts.yml", paths.inventory_dir() / "group_vars" / "genesis" / "lab.yml"):
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
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)

    def _start_prometheus(self, hosts):
        folder = self.state / "prometheus"
        folder.mkdir(exist_ok=True)
        targets = ",\n".join(f'        {{"targets": ["{h.address}:{HOST_PORT}"], "labels": {{"instance": "{h.name}"}}}}'
                             for h in hosts)
        (folder / "targets.json").write_text(f"[\n{targets}\n]\n", encoding="utf-8")
        (folder / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n"
            "scrape_configs:\n  - job_name: genesis\n    file_sd_configs:\n"
            f"      - files: ['{folder / 'targets.json'}']\n", encoding="utf-8")
        self._start_daemon("prometheus", ["prometheus", f"--config.file={folder / 'prometheus.yml'}",
                                          f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address={prometheus_address()}",
                                          "--storage.tsdb.retention.time=1d"], cwd=folder)
        _wait_for(lambda: http_json(f"http://{prometheus_address()}/-/ready", timeout=1)[0] == 200, 30, "Prometheus")
        return prometheus_address()

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
        paths.inventory_dir().mkdir(parents=True, exist_ok=True)
        (paths.inventory_dir() / "hosts.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- faults and status --------------------------------------------------------------
    def restart(self, hosts):
        stop_all(hosts)
        for host in hosts:
            host.start()
        for host in hosts:
            _wait_for(lambda h=host: h.health(timeout=1)[0] in (200, 503), 60, host.name)

    def status(self):
        def one(host):
            code, body = host.health()
            return {"host": host.name, "address": host.address, "pid": host.pid(),
                    "health": body.get("status") if isinstance(body, dict) else ("unreachable" if code is None else f"HTTP {code}"),
                    "start_failure": (host.fault_dir / "start_failure").exists()}
        with ThreadPoolExecutor(max_workers=32) as pool:
            rows = list(pool.map(one, self.hosts()))
        code, faults = http_json(self.mistral_url + "/_lab/faults", timeout=2)
        return {"hosts": rows, "mistral": self.mistral_url if code == 200 else None,
                "faults": faults.get("faults", []) if code == 200 else [], "prometheus": self.meta.get("prometheus")}


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not come up within {timeout}s")
