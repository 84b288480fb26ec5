"""The lab's hosts keep the host contract, show each fault where it was injected and nowhere else,
recover on `lab clear`, and restart through their pid files with a changed config applied.

Real processes, real HTTP, the real SDK inside every host: nothing here is mocked.
"""

import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import yaml

from tests.conftest import get_json, wait_until

AGENTS = ["qa_agent", "support_agent", "legal_agent", "analyst_agent", "content_agent"]
AGENT_FIELDS = {"status", "model", "finetuned_model", "baseline_model", "window_s", "requests", "errors", "fallbacks",
                "error_rate", "fallback_rate", "last_error"}
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|ERROR) agent=(\w+) model=(\S+)( fallback=true)? "
                      r"status=(\w+)( error=\".*\")?$")
SHOW_S = 30  # a fault shows on /health within this
CLEAR_S = 30  # and is gone this long after `lab clear`


def metrics(host):
    with urllib.request.urlopen(host.health_url + "/metrics", timeout=5) as response:
        return response.read().decode()


def series(text, name, **labels):
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def all_ok(lab, hosts=None):
    bad = {}
    for host in hosts or lab.hosts:
        code, body = lab.health(host)
        if code != 200 or body.get("status") != "ok":
            bad[host.name] = body.get("status") if isinstance(body, dict) else body
    return not bad or bad


def test_hosts_keep_the_contract(clean_lab):
    lab = clean_lab
    host = lab.hosts[0]
    wait_until(lambda: all(a["requests"] > 0 for a in lab.health(host)[1]["agents"].values()), 15, what="traffic")
    code, body = lab.health(host)
    assert code == 200
    assert set(body) == {"status", "version", "started_at", "config", "agents"}
    assert body["status"] == "ok"
    assert body["config"]["path"] == str(host.config)
    assert body["config"]["use_finetuned"] is True and body["config"]["rollout_percentage"] == 100
    assert list(body["agents"]) == AGENTS
    for agent in body["agents"].values():
        assert set(agent) == AGENT_FIELDS
        assert agent["model"] == agent["finetuned_model"] and agent["model"].startswith("ft:")
        assert 0 <= agent["error_rate"] <= 1 and 0 <= agent["fallback_rate"] <= 1, agent
        assert agent["last_error"] is None or isinstance(agent["last_error"], dict), agent
    code, qa = get_json(host.health_url + "/health/qa_agent")
    assert code == 200 and qa["agent"] == "qa_agent" and set(qa) == AGENT_FIELDS | {"agent"}
    assert get_json(host.health_url + "/health/no_such_agent")[0] == 404

    # Counters are real: they grow with the load.
    before = series(metrics(host), "model_requests_total", agent="qa_agent")
    wait_until(lambda: series(metrics(host), "model_requests_total", agent="qa_agent") > before, 10, what="counter growth")
    text = metrics(host)
    for name in ("model_requests_total", "model_errors_total", "model_fallbacks_total"):
        assert f"# TYPE {name} counter" in text
    assert re.search(r'model_requests_total\{agent="qa_agent",model="ft:[^"]+",kind="finetuned"\} \d+', text)

    # Log lines as contract section 6, one file per agent, plus the service's own free text.
    logs = host.app_root / "logs" / "finetuning"
    assert sorted(p.name for p in logs.glob("*.log")) == sorted([f"{a}.log" for a in AGENTS] + ["orchestrator.log"])
    lines = (logs / "qa_agent.log").read_text().splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines)

    # Process mode: the pid file names a live process running in the app root; the env file is 0600.
    pid = int((host.app_root / "run" / "genesis-orchestrator.pid").read_text())
    assert os.readlink(f"/proc/{pid}/cwd") == str(host.app_root)
    assert stat.S_IMODE(host.env_file.stat().st_mode) == 0o600
    key = host.env_file.read_text().split("=", 1)[1].strip()
    assert key not in (logs / "qa_agent.log").read_text()


# Host-scoped faults, one host each, all at once: each host must show its own and only its own.
HOST_FAULTS = [
    (["credentials", "--status", "401"], "down", 401),
    (["credentials", "--status", "403"], "down", 403),
    (["rate_limit"], "degraded", 429),
    (["server_error", "--status", "503"], "down", 503),
    (["hang"], "down", "timeout"),
    (["complete_failure"], "down", "connect"),
    (["slow", "--delay", "5"], "down", "timeout"),
]


def test_host_faults_show_where_injected_and_nowhere_else(clean_lab):
    lab = clean_lab
    targets = lab.hosts[:len(HOST_FAULTS)]
    bystander = lab.hosts[len(HOST_FAULTS)]
    started = time.monotonic()
    for host, (args, _, _) in zip(targets, HOST_FAULTS):
        lab.cli("fault", *args, "--hosts", host.name)

    def shown():
        pending = {}
        for host, (args, status, code) in zip(targets, HOST_FAULTS):
            _, body = lab.health(host)
            agents = body["agents"].values() if isinstance(body, dict) else []
            ok = body.get("status") == status and all(
                a["status"] == status and a["last_error"] and a["last_error"]["status"] == code for a in agents)
            if not ok:
                pending[host.name] = (args[0], body.get("status") if isinstance(body, dict) else body)
        return not pending or pending

    assert wait_until(shown, SHOW_S + 10, what="every fault on its host") is True
    assert time.monotonic() - started < SHOW_S + 10
    assert all_ok(lab, [bystander]) is True

    # Metrics agree with health: each host counts its own error code, the bystander none.
    for host, (args, _, code) in zip(targets, HOST_FAULTS):
        text = metrics(host)
        assert series(text, "model_errors_total", code=code) > 0, (host.name, args)
        others = {c for _, _, c in HOST_FAULTS} - {code}
        assert all(series(text, "model_errors_total", code=c) == 0 for c in others), (host.name, args)
    assert series(metrics(bystander), "model_errors_total") == 0
    rate_limited = targets[2]
    assert series(metrics(rate_limited), "model_fallbacks_total") > 0

    lab.cli("clear")
    cleared = time.monotonic()
    assert wait_until(lambda: all_ok(lab), CLEAR_S + 5, what="recovery after clear") is True
    assert time.monotonic() - cleared < CLEAR_S + 5


def test_model_faults_hit_only_the_agents_on_those_ids(clean_lab):
    lab = clean_lab
    lab.cli("fault", "model_unavailable", "--agents", "qa_agent")

    def qa_only(status):
        def check():
            for host in lab.hosts:
                _, body = lab.health(host)
                agents = body["agents"]
                if agents["qa_agent"]["status"] != status or agents["qa_agent"]["last_error"]["status"] != 400:
                    return {host.name: agents["qa_agent"]}
                if any(agents[a]["status"] != "ok" for a in AGENTS[1:]):
                    return {host.name: {a: agents[a]["status"] for a in AGENTS}}
            return True
        return check

    # The fine-tuned id is gone: qa_agent falls back to its live baseline, degraded; nobody else moves.
    assert wait_until(qa_only("degraded"), SHOW_S, what="qa_agent degraded everywhere") is True
    # Its baseline retired too: no fallback left, qa_agent down. support_agent shares that baseline
    # but its own fine-tuned model still answers, so it stays ok.
    lab.cli("fault", "retired_baseline", "--agents", "qa_agent")
    assert wait_until(qa_only("down"), SHOW_S, what="qa_agent down everywhere") is True
    lab.cli("clear")
    assert wait_until(lambda: all_ok(lab), CLEAR_S + 5, what="recovery after clear") is True


def test_service_down_and_start_failure(clean_lab):
    lab = clean_lab
    host, other = lab.hosts[0], lab.hosts[1]
    pid = host.pid()
    lab.cli("fault", "service_down", "--hosts", host.name)
    assert get_json(host.health_url + "/health", timeout=2)[0] is None
    assert host.pid() is None and host.pid_file.exists()  # killed: the stale pid file stays, as after a crash
    assert lab.health(other)[0] == 200

    # Armed start_failure: starting the service the contract's way fails, and says why.
    lab.cli("fault", "start_failure", "--hosts", host.name)
    proc = subprocess.run(["python3", "genesis_orchestrator.py"], cwd=host.app_root, env=host.environment(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "cannot start" in proc.stderr
    assert get_json(host.health_url + "/health", timeout=2)[0] is None

    lab.cli("clear")
    assert host.pid() not in (None, pid)
    assert wait_until(lambda: all_ok(lab, [host]), CLEAR_S, what="host back") is True


def test_restart_through_pid_file_applies_a_changed_config(clean_lab):
    lab = clean_lab
    host = lab.hosts[1]
    original = host.config.read_text()
    old_pid = host.pid()
    try:
        subprocess.run(["python3", "scripts/rollout_models.py", "--percentage", "0"], cwd=host.app_root, check=True,
                       capture_output=True)
        assert yaml.safe_load(host.config.read_text())["models"]["rollout_percentage"] == 0
        # Still running the old config until restarted.
        assert lab.health(host)[1]["config"]["rollout_percentage"] == 100

        # Stop by the pid in the pid file (never by pattern), start as the contract says.
        os.kill(old_pid, signal.SIGTERM)
        wait_until(lambda: not os.path.exists(f"/proc/{old_pid}"), 10, what="old process gone")
        with open(host.app_root / "logs" / "orchestrator.out", "ab") as out:
            subprocess.Popen(["python3", "genesis_orchestrator.py"], cwd=host.app_root, env=host.environment(),
                             stdout=out, stderr=out, start_new_session=True)
        wait_until(lambda: lab.health(host)[0] == 200, 30, what="restarted host answering")
        code, body = lab.health(host)
        assert host.pid() not in (None, old_pid)
        assert body["config"]["rollout_percentage"] == 0
        assert all(a["model"] == a["baseline_model"] for a in body["agents"].values())
    finally:
        host.config.write_text(original)
        lab.cli("restart", "--hosts", host.name)
    assert lab.health(host)[1]["config"]["rollout_percentage"] == 100


def test_inventory_points_the_collection_at_the_lab(lab):
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i", lab.inventory,
                           "--list", "--yaml"], capture_output=True, text=True, check=True)
    inventory = yaml.safe_load(proc.stdout)
    hosts = inventory["all"]["children"]["genesis"]["hosts"]
    assert sorted(hosts) == [h.name for h in lab.hosts]
    first = hosts[lab.hosts[0].name]
    assert first["genesis_health_url"] == lab.hosts[0].health_url
    assert first["genesis_app_root"] == str(lab.hosts[0].app_root)
    assert first["genesis_service_manager"] == "process"
    key = lab.hosts[0].env_file.read_text().split("=", 1)[1].strip()
    assert key not in proc.stdout  # the inventory holds a lookup, not the key


def test_ssh_transport_reaches_every_host(lab):
    """`lab up --ssh`: real sshd on each host's address; Ansible gets there over SSH."""
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible"), "genesis", "-i", lab.inventory,
                           "-m", "ansible.builtin.command", "-a", "cat {{ genesis_app_root }}/run/genesis-orchestrator.pid",
                           "-o"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for host in lab.hosts:
        assert re.search(rf"^{host.name} \| CHANGED \| rc=0 \| \(stdout\) {host.pid()}$", proc.stdout, re.M), proc.stdout
    inventory = yaml.safe_load(open(lab.inventory, encoding="utf-8"))
    assert inventory["all"]["children"]["genesis"]["vars"]["ansible_connection"] == "ssh"


def test_prometheus_answers_the_runbook_query(clean_lab):
    lab = clean_lab
    host = lab.hosts[3]
    lab.cli("fault", "server_error", "--status", "502", "--hosts", host.name)

    def rate():
        query = urllib.parse.quote('sum by (instance, agent) (rate(model_errors_total{code="502"}[5m]))')
        code, body = get_json(f"http://{lab.fleet.meta['prometheus']}/api/v1/query?query={query}")
        results = body["data"]["result"] if code == 200 else []
        seen = sorted((r["metric"]["instance"], r["metric"]["agent"], float(r["value"][1])) for r in results)
        # rate() needs two scrapes of a series: the agents' first 502s come in over a few seconds
        return seen if {agent for _, agent, _ in seen} >= set(AGENTS) else {"so far": seen}

    seen = wait_until(rate, 45, interval=2, what="Prometheus error rate")
    assert {instance for instance, _, _ in seen} == {host.name}
    assert {agent for _, agent, _ in seen} == set(AGENTS) and all(value > 0 for _, _, value in seen)
