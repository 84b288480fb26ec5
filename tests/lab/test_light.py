"""The light lab (`python -m lab up --mode light`): every host still its own service process with the
contract's app root, pid file, env file, health, metrics and logs, served by one shared host server
whose synthetic traffic asks the simulator for each call's answer. Each fault shows where it was
injected and nowhere else, as in the full lab; a restart through the pid file (the collection's own
module) applies a changed config and key, and a host answers exactly while its process lives;
the formats are the full lab's; two light labs on different nets do not see each other.

Real processes and real HTTP; restarts through `ansible` and the collection's module, or as an
operator would start the service.
"""

import contextlib
import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from ipaddress import ip_address, ip_network

import pytest
import yaml

from lab import paths
from lab.fleet import HOSTS_PER_BLOCK, Fleet, alive, default_mode, host_address
from tests.conftest import ROOT, get_json, wait_until
from tests.lab.test_fleet import AGENT_FIELDS, AGENTS, HOST_FAULTS, LOG_LINE, metrics, series

HOSTS = 12
SHOW_S = 40  # with a 10 s window: a fault shows well within this
# The nets these tests may take, each under the lock the test labs take (`genesis-lab-N.lock`): the
# module's lab, and a second one for a test that needs two labs at once.
NETS = [int(n) for n in os.environ.get("GENESIS_LIGHT_LAB_NETS", "5,6,7").split(",")]


@contextlib.contextmanager
def free_net(timeout=900):
    """A net of NETS that no other test session holds, held until the block ends."""
    deadline = time.monotonic() + timeout
    while True:
        for net in NETS:
            with open(os.path.join(tempfile.gettempdir(), f"genesis-lab-{net}.lock"), "w", encoding="utf-8") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                yield net
                return
        assert time.monotonic() < deadline, f"none of the lab nets {NETS} came free"
        time.sleep(1)


class LightLab:
    """A lab on its own net, driven through `python -m lab` with GENESIS_LAB_NET set to that net."""

    def __init__(self, net):
        self.net = net
        self.fleet = Fleet(net=net)
        self.hosts = self.fleet.hosts()
        self.inventory = str(paths.inventory_dir(net) / "hosts.yml")

    @staticmethod
    def up(net, *args):
        LightLab.run(net, "up", *args)
        return LightLab(net)

    @staticmethod
    def run(net, *args, check=True):
        env = dict(os.environ, GENESIS_LAB_NET=str(net))
        env.pop("GENESIS_LAB_DIR", None)
        proc = subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)} (net {net}) failed: {proc.stdout}{proc.stderr}")
        return proc

    def cli(self, *args, check=True):
        return self.run(self.net, *args, check=check)

    @staticmethod
    def health(host, path="/health"):
        code, body = get_json(host.health_url + path, timeout=5)
        return code, body if isinstance(body, dict) else {"status": "unreachable", "error": body}

    def ansible(self, pattern, module, args):
        """An ad-hoc `ansible` run of a module on this lab's inventory; returns (rc, {host: result})."""
        env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), pattern, "-i", self.inventory,
                               "-m", module, "-a", args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        try:
            return proc.returncode, json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError(f"ansible {pattern} -m {module} gave no result: {proc.stdout}{proc.stderr}") from None

    def all_ok(self, hosts=None):
        bad = {h.name: self.health(h)[1].get("status") for h in hosts or self.hosts}
        bad = {name: status for name, status in bad.items() if status != "ok"}
        return not bad or bad


@pytest.fixture(scope="module")
def light_lab():
    with free_net() as net:
        # a request per agent every second and a 10 s window: faults show and leave within seconds
        lab = LightLab.up(net, "--hosts", str(HOSTS), "--mode", "light", "--interval", "1", "--window", "10",
                          "--no-prometheus")
        try:
            yield lab
        finally:
            lab.cli("down", check=False)


@pytest.fixture
def clean_light(light_lab):
    """The light lab with no fault, every host ok (hosts still holding errors in their window restarted)."""
    lab = light_lab
    lab.cli("clear")
    unhealthy = [h.name for h in lab.hosts if lab.health(h)[1].get("status") != "ok"]
    if unhealthy:
        lab.cli("restart", "--hosts", ",".join(unhealthy))
    wait_until(lab.all_ok, 60, what="a healthy light lab")
    yield lab
    lab.cli("clear")


def shape(value):
    """The structure of a JSON value: keys and value types, no values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


def metric_shape(text):
    """The HELP/TYPE lines, and each series with its label names and the label values that are codes or kinds."""
    lines = set()
    for line in text.splitlines():
        if line.startswith("#"):
            lines.add(line)
        elif line:
            name, labels = re.match(r"^(\w+)\{(.*)\} \d+(\.\d+)?$", line).group(1, 2)
            pairs = dict(re.findall(r'(\w+)="([^"]*)"', labels))
            lines.add((name, tuple(pairs), pairs.get("code"), pairs.get("kind")))
    return lines


def log_sizes(host):
    return {agent: (host.app_root / "logs" / "finetuning" / f"{agent}.log").stat().st_size for agent in AGENTS}


def log_shape(host, offsets):
    """The kinds of model-call lines a host logged since ``offsets``: level and field names, and each error's
    status and message."""
    kinds = set()
    for agent in AGENTS:
        for line in new_lines(host.app_root / "logs" / "finetuning" / f"{agent}.log", offsets[agent]):
            assert LOG_LINE.match(line), line
            level, fields = line.split(" ", 2)[1:]
            kinds.add((level, tuple(re.findall(r"(\w+)=", fields))))
            if level == "ERROR":
                kinds.add(re.search(r'status=(\S+) error=(".*")$', line).groups())
    return kinds


def new_lines(path, offset):
    with open(path, encoding="utf-8") as fh:
        fh.seek(offset)
        return fh.read().splitlines()


def proc_fields(pid):
    """(command line, working directory, environment) of a live process."""
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        cmdline = fh.read().decode().rstrip("\0").split("\0")
    with open(f"/proc/{pid}/environ", "rb") as fh:
        environ = dict(item.split("=", 1) for item in fh.read().decode().split("\0") if "=" in item)
    return cmdline, os.readlink(f"/proc/{pid}/cwd"), environ


def content_type(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.headers["Content-Type"]
    except urllib.error.HTTPError as err:  # /health of a service that is down: 503
        return err.headers["Content-Type"]


def rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        return int(next(line for line in fh if line.startswith("VmRSS:")).split()[1])


def test_addresses_reach_past_253_hosts_and_keep_labs_apart():
    labs = {}
    for net in (0, 5, 6, 99):
        addresses = [host_address(i, net) for i in range(1, 1001)]
        assert len(set(addresses)) == 1000
        assert all(ip_address(a) in ip_network(f"127.{net}.0.0/16") for a in addresses)
        assert all(2 <= int(a.rsplit(".", 1)[1]) <= 254 for a in addresses)  # never .0, .1 or .255 of a block
        # the full lab's addresses are unchanged: host i on 127.N.0.(i+1)
        assert addresses[:253] == [f"127.{net}.0.{i + 1}" for i in range(1, 254)]
        labs[net] = set(addresses)
    assert "127.0.0.1" not in labs[0]  # the controller's, the simulator's and Prometheus's
    assert not labs[5] & labs[6] and not labs[0] & labs[5]
    assert host_address(254, 5) == "127.5.1.2" and host_address(1000, 5) == "127.5.3.242"
    assert host_address(256 * HOSTS_PER_BLOCK, 5) == "127.5.255.254"
    with pytest.raises(ValueError, match="out of range"):
        host_address(256 * HOSTS_PER_BLOCK + 1, 5)

    assert default_mode(1) == default_mode(100) == "full" and default_mode(101) == default_mode(1000) == "light"
    with tempfile.TemporaryDirectory() as state:
        # refused before anything starts, naming the way out
        with pytest.raises(ValueError, match=r"--hosts 300 is out of range for the full mode: 1\.\.253; --mode light"):
            Fleet(state=state, net=NETS[0]).up(300, mode="full")
        with pytest.raises(ValueError, match="--ssh works up to 16 hosts"):
            Fleet(state=state, net=NETS[0]).up(17, ssh=True)
        assert os.listdir(state) == []


def test_light_hosts_keep_the_contract(clean_light):
    lab = clean_light
    pids = set()
    for host in lab.hosts:
        pid = host.pid()
        assert pid and pid not in pids
        pids.add(pid)
        # Its own process is the service: in its app root, started as the contract says (re-executed
        # without site packages), the key of its own env file (mode 0600) in its environment.
        cmdline, cwd, environ = proc_fields(pid)
        assert cwd == str(host.app_root)
        assert os.path.basename(cmdline[0]).startswith("python3") and cmdline[1:] == ["-S", "genesis_orchestrator.py"]
        assert stat.S_IMODE(host.env_file.stat().st_mode) == 0o600
        assert environ["MISTRAL_API_KEY"] == host.env_file.read_text().split("=", 1)[1].strip()
        # small: no SDK in it (a full host is ~70 MB)
        with open(f"/proc/{pid}/maps", encoding="utf-8") as fh:
            assert "site-packages" not in fh.read()
        assert rss_kib(pid) < 20 * 1024
        assert (host.app_root / "infrastructure" / "model_registry.py").exists()
        assert (host.app_root / "scripts" / "rollout_models.py").exists()

    host = lab.hosts[0]
    wait_until(lambda: all(a["requests"] > 0 for a in lab.health(host)[1]["agents"].values()), 15, what="traffic")
    code, body = lab.health(host)
    assert code == 200 and body["status"] == "ok" and list(body["agents"]) == AGENTS
    assert body["config"]["path"] == str(host.config) and body["config"]["rollout_percentage"] == 100
    assert all(set(agent) == AGENT_FIELDS for agent in body["agents"].values())
    code, qa = lab.health(host, "/health/qa_agent")
    assert code == 200 and set(qa) == AGENT_FIELDS | {"agent"} and qa["model"].startswith("ft:")
    assert lab.health(host, "/health/no_such_agent")[0] == 404
    before = series(metrics(host), "model_requests_total", agent="qa_agent", kind="finetuned")
    wait_until(lambda: series(metrics(host), "model_requests_total", agent="qa_agent") > before, 10, what="counter growth")
    logs = host.app_root / "logs" / "finetuning"
    assert sorted(p.name for p in logs.glob("*.log")) == sorted([f"{a}.log" for a in AGENTS] + ["orchestrator.log"])
    key = host.env_file.read_text().split("=", 1)[1].strip()
    assert all(key not in p.read_text() for p in logs.glob("*.log"))

    # The inventory: the full lab's shape, a local connection and per-host contract variables.
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", lab.inventory,
                           "--list", "--yaml"], capture_output=True, text=True, check=True)
    hosts = yaml.safe_load(proc.stdout)["all"]["children"]["genesis"]["hosts"]
    assert sorted(hosts) == [h.name for h in lab.hosts]
    last = hosts[lab.hosts[-1].name]
    assert last["ansible_host"] == lab.hosts[-1].address and last["genesis_health_url"] == lab.hosts[-1].health_url
    assert last["genesis_app_root"] == str(lab.hosts[-1].app_root) and last["ansible_connection"] == "local"
    assert last["genesis_service_manager"] == "process" and key not in proc.stdout


def test_light_formats_match_the_full_lab(clean_light):
    """The same fault on a full host and a light host: /health, /health/<agent>, /metrics and the log
    lines have the same fields, labels and line kinds (numbers aside)."""
    light = clean_light.hosts[2]
    clean_light.cli("restart", "--hosts", light.name)  # counters and window of this test only
    with free_net() as net:
        full_lab = LightLab.up(net, "--hosts", "1", "--mode", "full", "--interval", "1", "--window", "10",
                               "--no-prometheus")
        try:
            full = full_lab.hosts[0]
            # the full lab's service is also `<python> genesis_orchestrator.py` in its app root
            cmdline, cwd, _ = proc_fields(full.pid())
            assert cmdline[1:] == ["genesis_orchestrator.py"] and cwd == str(full.app_root)
            offsets = {host.name: log_sizes(host) for host in (full, light)}
            for lab, host in ((full_lab, full), (clean_light, light)):
                lab.cli("fault", "rate_limit", "--agents", "qa_agent", "--hosts", host.name)
                lab.cli("fault", "server_error", "--status", "502", "--agents", "legal_agent", "--hosts", host.name)

            def faulted(lab, host):
                agents = lab.health(host)[1].get("agents", {})
                return (agents.get("qa_agent", {}).get("status") == "degraded"
                        and agents.get("legal_agent", {}).get("status") == "down")

            wait_until(lambda: faulted(full_lab, full) and faulted(clean_light, light), SHOW_S, what="both faults on both")
            for path in ("/health", "/health/qa_agent", "/health/legal_agent", "/health/content_agent", "/health/nope"):
                (full_code, full_body), (light_code, light_body) = full_lab.health(full, path), clean_light.health(light, path)
                assert full_code == light_code and shape(full_body) == shape(light_body), path
            assert metric_shape(metrics(full)) == metric_shape(metrics(light))
            full_logs, light_logs = log_shape(full, offsets[full.name]), log_shape(light, offsets[light.name])
            assert full_logs == light_logs
            assert ("429", '"Rate limit exceeded"') in light_logs and ("502", '"Bad Gateway"') in light_logs
            start_line = re.compile(r"^\[\S+Z\] genesis-orchestrator \S+ started pid \d+ on [\d.]+:8080 "
                                    r"\(use_finetuned=True, rollout=100%\)$")
            for host in (full, light):
                lines = (host.app_root / "logs" / "finetuning" / "orchestrator.log").read_text().splitlines()
                assert lines and all(start_line.match(line) for line in lines)
            for path in ("/health", "/health/qa_agent", "/metrics"):
                assert content_type(full.health_url + path) == content_type(light.health_url + path), path
        finally:
            full_lab.cli("down", check=False)


def test_each_fault_shows_where_injected_and_nowhere_else(clean_light):
    lab = clean_light
    hosts = lab.hosts
    # (host, lab fault arguments, host status, {agent: (status, code)} for the agents it hits (None: all))
    expected = [(host, args, status, {None: (status, code)}) for host, (args, status, code) in zip(hosts, HOST_FAULTS)]
    gone_ft = (hosts[7], [["model_unavailable", "--agents", "qa_agent"]], "degraded", {"qa_agent": ("degraded", 400)})
    no_fallback = (hosts[8], [["model_unavailable", "--agents", "qa_agent"], ["retired_baseline", "--agents", "qa_agent"]],
                   "down", {"qa_agent": ("down", 400)})
    service_down, bystanders = hosts[9], hosts[10:]
    offsets = {h.name: log_sizes(h) for h in hosts}
    for host, args, _, _ in expected:
        lab.cli("fault", *args, "--hosts", host.name)
    for host, faults, _, _ in (gone_ft, no_fallback):
        for args in faults:
            lab.cli("fault", *args, "--hosts", host.name)
    lab.cli("fault", "service_down", "--hosts", service_down.name)
    expected += [gone_ft, no_fallback]

    def hit(agents, agent):
        return agents.get(agent) or agents.get(None)

    def shown():
        pending = {}
        for host, args, status, agents in expected:
            body = lab.health(host)[1]
            seen = {a: (v["status"], (v["last_error"] or {}).get("status")) for a, v in body.get("agents", {}).items()}
            want = {a: hit(agents, a) or ("ok", None) for a in AGENTS}
            if body.get("status") != status or seen != want:
                pending[host.name] = (args, body.get("status"), seen)
        return not pending or pending

    assert wait_until(shown, SHOW_S, what="every fault on its host") is True
    assert lab.health(service_down)[0] is None and service_down.pid() is None and service_down.pid_file.exists()

    # Metrics and logs agree with health: each host counts and logs its own codes, only for the agents hit.
    for host, args, _, agents in expected:
        text = metrics(host)
        for agent in AGENTS:
            code = (hit(agents, agent) or (None, None))[1]
            codes = {c for c in re.findall(rf'model_errors_total{{agent="{agent}",model="[^"]+",code="(\w+)"}}', text)}
            assert codes == ({str(code)} if code else set()), (host.name, args, agent, codes)
            logged = {LOG_LINE.match(line).group(5) for line in
                      new_lines(host.app_root / "logs" / "finetuning" / f"{agent}.log", offsets[host.name][agent])
                      if " ERROR " in line}
            assert logged == ({str(code)} if code else set()), (host.name, args, agent, logged)
    assert series(metrics(hosts[2]), "model_fallbacks_total") > 0  # rate limited: the baselines answered
    for host in bystanders:
        assert lab.all_ok([host]) is True
        assert series(metrics(host), "model_errors_total") == 0
        assert not any(" ERROR " in line for a in AGENTS
                       for line in new_lines(host.app_root / "logs" / "finetuning" / f"{a}.log", offsets[host.name][a]))

    lab.cli("clear")
    assert service_down.pid() is not None
    assert wait_until(lab.all_ok, SHOW_S, what="every host ok after clear") is True


def test_restart_through_the_pid_file_applies_a_changed_config_and_key(clean_light):
    """The collection's module restarts a light host the contract's way (SIGTERM to the pid file's process,
    `python3 genesis_orchestrator.py` in the app root with the env file's variables, a new pid in the pid
    file); the new process serves the re-read config and calls with the env file's new key."""
    lab = clean_light
    host = lab.hosts[1]
    config, env = host.config.read_text(), host.env_file.read_text()
    spare = paths.load_keys(lab.fleet.state)["spare"]
    old_pid = host.pid()
    lab.cli("fault", "credentials", "--hosts", host.name)  # the fleet key revoked for this host
    wait_until(lambda: lab.health(host)[1].get("status") == "down", SHOW_S, what="credentials fault shown")
    try:
        subprocess.run(["python3", "scripts/rollout_models.py", "--percentage", "0"], cwd=host.app_root, check=True,
                       capture_output=True)
        host.env_file.write_text(f"MISTRAL_API_KEY={spare}\n")
        assert lab.health(host)[1]["config"]["rollout_percentage"] == 100  # not applied before the restart

        rc, results = lab.ansible(host.name, "genesis.model_ops.orchestrator_service",
                                  "app_root={{ genesis_app_root }} env_file={{ genesis_env_file }} manager=process")
        result = results[host.name]
        assert rc == 0 and result["changed"] and result["old_pid"] == old_pid and result["stopped"] == "term", result
        assert result["pid"] == host.pid() != old_pid
        assert not alive(old_pid)
        cmdline, cwd, environ = proc_fields(result["pid"])
        # started plainly (`python3 genesis_orchestrator.py`), it re-executed itself without site packages
        assert cmdline[1:] == ["-S", "genesis_orchestrator.py"] and cwd == str(host.app_root)
        assert environ["MISTRAL_API_KEY"] == spare and spare not in json.dumps(results)

        code, body = lab.health(host)
        assert code == 200 and body["config"]["rollout_percentage"] == 0
        assert all(a["model"] == a["baseline_model"] for a in body["agents"].values())
        # the spare key is not revoked: the host calls with it and is ok
        assert wait_until(lambda: lab.all_ok([host]), SHOW_S, what="ok on the spare key") is True
        assert all(lab.health(other)[1]["config"]["rollout_percentage"] == 100 for other in lab.hosts if other is not host)
    finally:
        host.config.write_text(config)
        host.env_file.write_text(env)
        lab.cli("clear")
        lab.cli("restart", "--hosts", host.name)
    assert lab.health(host)[1]["config"]["rollout_percentage"] == 100


def test_a_host_is_served_exactly_while_its_process_lives(clean_light):
    """Many stop/start cycles through the pid file, SIGTERM and SIGKILL in turn, each with another config:
    every time, the address stops answering with the process, and the next process serves the new config.
    A second process for a running host fails to start and leaves the first one serving."""
    lab = clean_light
    host = lab.hosts[3]
    original = host.config.read_text()
    env = dict(host.environment(), PATH=os.environ["PATH"])  # plain `python3`, as the collection's module starts it
    cycles = 20
    try:
        for cycle in range(cycles):
            pid = host.pid()
            os.kill(pid, signal.SIGKILL if cycle % 2 else signal.SIGTERM)
            wait_until(lambda p=pid: not alive(p), 10, what=f"cycle {cycle}: the old process gone")
            assert lab.health(host)[0] is None, f"cycle {cycle}: still served after its process ended"
            percentage = 10 * (cycle % 10)
            host.config.write_text(re.sub(r"rollout_percentage: \d+", f"rollout_percentage: {percentage}", original))
            with open(host.app_root / "logs" / "orchestrator.out", "ab") as out:
                subprocess.Popen(["python3", "genesis_orchestrator.py"], cwd=host.app_root, env=env, stdout=out, stderr=out,
                                 start_new_session=True)
            wait_until(lambda p=pid: host.pid() not in (None, p), 30, what=f"cycle {cycle}: a new pid in the pid file")
            code, body = lab.health(host)
            assert code == 200 and body["config"]["rollout_percentage"] == percentage, (cycle, code, body)

        second = subprocess.run(["python3", "genesis_orchestrator.py"], cwd=host.app_root, env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 1 and "cannot serve on" in second.stderr and "in use" in second.stderr
        assert lab.health(host)[0] == 200 and host.pid_file.read_text().strip() == str(host.pid())
    finally:
        host.config.write_text(original)
        lab.cli("restart", "--hosts", host.name)
    print(f"{cycles} stop/start cycles: the address answered exactly while a process lived, with its config")


def test_service_down_and_start_failure(clean_light):
    lab = clean_light
    host, other = lab.hosts[0], lab.hosts[1]
    pid = host.pid()
    lab.cli("fault", "service_down", "--hosts", host.name)
    assert lab.health(host)[0] is None
    assert host.pid() is None and host.pid_file.read_text().strip() == str(pid)  # killed: its stale pid file stays
    assert lab.health(other)[0] == 200

    # Armed start_failure: the collection's module starts the service the contract's way; it exits and says why.
    lab.cli("fault", "start_failure", "--hosts", host.name)
    rc, results = lab.ansible(host.name, "genesis.model_ops.orchestrator_service",
                              "app_root={{ genesis_app_root }} env_file={{ genesis_env_file }} manager=process state=started")
    assert rc != 0 and "cannot start: configuration check failed" in results[host.name]["msg"], results
    assert lab.health(host)[0] is None and host.pid() is None
    assert "start_failure armed" in lab.cli("status").stdout

    lab.cli("clear")
    assert host.pid() not in (None, pid)
    assert wait_until(lambda: lab.all_ok([host]), SHOW_S, what="host back") is True


def test_two_light_labs_do_not_see_each_other(clean_light):
    lab_a = clean_light
    with free_net() as net:
        lab_b = LightLab.up(net, "--hosts", "3", "--mode", "light", "--interval", "1", "--window", "10", "--no-prometheus")
        try:
            assert {h.address for h in lab_a.hosts}.isdisjoint(h.address for h in lab_b.hosts)
            assert all(h.address.startswith(f"127.{net}.") for h in lab_b.hosts)
            assert paths.load_keys(lab_a.fleet.state) != paths.load_keys(lab_b.fleet.state)
            # a fault on every host of lab B (its fleet key revoked) stays in lab B
            errors_a = [series(metrics(h), "model_errors_total") for h in lab_a.hosts]
            lab_b.cli("fault", "credentials")
            wait_until(lambda: all(lab_b.health(h)[1].get("status") == "down" for h in lab_b.hosts), SHOW_S,
                       what="lab B down")
            assert lab_a.all_ok() is True
            assert [series(metrics(h), "model_errors_total") for h in lab_a.hosts] == errors_a
            status_a = json.loads(lab_a.cli("status", "--json").stdout)
            assert [row["host"] for row in status_a["hosts"]] == [h.name for h in lab_a.hosts] and not status_a["faults"]
            assert all(row["address"].startswith(f"127.{lab_a.net}.") for row in status_a["hosts"])
            # same host names, different hosts: genesis-001 of each lab is its own process, app root and address
            assert lab_a.hosts[0].pid() != lab_b.hosts[0].pid() and lab_a.hosts[0].app_root != lab_b.hosts[0].app_root
            # lab B's processes, killed one by one through their own pid files, take only lab B's hosts down
            for host in lab_b.hosts:
                os.kill(host.pid(), signal.SIGKILL)
            wait_until(lambda: all(lab_b.health(h)[0] is None for h in lab_b.hosts), 10, what="lab B's hosts gone")
            assert lab_a.all_ok() is True
        finally:
            lab_b.cli("down", check=False)
    assert lab_a.all_ok() is True
