# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_health for real: ansible-playbook (through ansible-runner) against the 8-host lab, over SSH.

Every lab fault is injected for real, shown on the hosts' own /health first, then probed by ONE
playbook run that uses the module both ways: on each host (`url`), and once from the controller
(`targets`, `delegate_to: localhost`, `run_once`). Nothing is mocked.

Host-scoped faults go on different hosts at once, so that one run shows every fault on its host,
and the hosts left alone show nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import wait_until

AGENTS = ["qa_agent", "support_agent", "legal_agent", "analyst_agent", "content_agent"]
PROBE = "model_health/probe.yml"
WAIT = "model_health/wait.yml"
SHOW_S = 40  # a fault shows on /health within 30 s (tests/lab/test_fleet.py), with some slack

# The findings of a host whose every agent is down: each agent down and above the error-rate threshold,
# and the service down.
DOWN = sorted([("agent_down", a) for a in AGENTS] + [("error_rate_high", a) for a in AGENTS] + [("service_down", None)])
# Every agent answered by its baseline: each degraded and above the fallback-rate threshold; no error.
FALLING_BACK = sorted([("agent_degraded", a) for a in AGENTS] + [("fallback_rate_high", a) for a in AGENTS])

# Round 1: the simulator's host-scoped faults, one per host; the last host is left alone.
# (lab fault arguments, service status, HTTP status of /health, every agent's status and last_error.status, findings)
ROUND1 = [
    (["credentials", "--status", "401"], "down", 503, "down", 401, DOWN),
    (["credentials", "--status", "403"], "down", 503, "down", 403, DOWN),
    (["rate_limit"], "degraded", 200, "degraded", 429, FALLING_BACK),
    (["server_error", "--status", "503"], "down", 503, "down", 503, DOWN),
    (["slow", "--delay", "5"], "down", 503, "down", "timeout", DOWN),  # past the hosts' 3 s timeout
    (["hang"], "down", 503, "down", "timeout", DOWN),
    (["complete_failure"], "down", 503, "down", "connect", DOWN),
]


def fleet_key(lab):
    key = lab.hosts[0].env_file.read_text(encoding="utf-8").split("=", 1)[1].strip()
    assert len(key) == 32
    return key


def assert_absent(result, *keys):
    """None of ``keys`` (nor its first 10 characters) in the run's text output, events or results."""
    for text in (result.stdout, json.dumps(result.events, default=str), json.dumps(result.results, default=str)):
        for key in keys:
            assert key not in text and key[:10] not in text


@pytest.fixture
def run(lab, play):
    """play(), and the lab's real fleet key shows nowhere in what the run printed or returned.

    ansible-runner finds ansible-playbook on PATH: the venv's, also when pytest was started as .venv/bin/python."""
    key = fleet_key(lab)

    def go(*args, envvars=None, **kwargs):
        envvars = dict({"PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])},
                       **(envvars or {}))
        result = play(*args, envvars=envvars, **kwargs)
        assert_absent(result, key)
        return result
    return go


def clear_while_waiting(lab, run, task, **extravars):
    """Run the wait playbook and `lab clear` once its wait task has begun: the faulted hosts are unhealthy at
    the wait's start however slow the controller is. (the run, when the faults were cleared)"""
    begun, box = threading.Event(), {}

    def seen(event):
        if event.get("event") == "runner_on_start" and event.get("event_data", {}).get("task") == task:
            begun.set()
        return True
    waiter = threading.Thread(target=lambda: box.update(result=run(WAIT, extravars=extravars, event_handler=seen)))
    waiter.start()
    assert begun.wait(180), "the wait task did not start"
    time.sleep(2)  # its first probe of every host
    lab.cli("clear")
    cleared = time.monotonic()
    waiter.join(240)
    return box["result"], cleared


def codes(result):
    return sorted(((f["code"], f["agent"]) for f in result["findings"]), key=lambda item: (item[0], item[1] or ""))


def one(results):
    """The result of a run_once task."""
    assert len(results) == 1, results
    return next(iter(results.values()))


def summary(result):
    """What must not depend on when (or in which mode) the probe ran."""
    return {"status": result["status"], "healthy": result["healthy"], "http_status": result["http_status"],
            "agents": {name: (agent["status"], (agent["last_error"] or {}).get("status"))
                       for name, agent in result["agents"].items()},
            "findings": codes(result)}


def shows(lab, expected):
    """wait_until predicate: every host's /health shows {host: (status, {agent: (status, last_error.status)})}."""
    def check():
        pending = {}
        for host, (status, agents) in expected.items():
            _, body = lab.health(host)
            seen = {name: (a["status"], (a["last_error"] or {}).get("status")) for name, a in body.get("agents", {}).items()}
            if body.get("status") != status or any(seen.get(name) != want for name, want in agents.items()):
                pending[host.name] = (body.get("status"), seen)
        return not pending or pending
    return check


def test_healthy_lab_every_host_ok_both_modes(clean_lab, run):
    lab = clean_lab
    result = run(PROBE)
    assert result.rc == 0, result.stdout
    per_host = result.task("Probe each host from itself")
    assert sorted(per_host) == [h.name for h in lab.hosts]
    for host in lab.hosts:
        res = per_host[host.name]
        assert res["_event"] == "runner_on_ok" and res["changed"] is False
        assert res["url"] == host.health_url  # each host probed its own genesis_health_url
        assert (res["status"], res["healthy"], res["http_status"], res["findings"], res["attempts"]) == ("ok", True, 200, [], 1)
        assert res["version"] == "1.4.2" and res["config"]["rollout_percentage"] == 100
        assert list(res["agents"]) == AGENTS
        for agent in res["agents"].values():
            assert agent["status"] == "ok" and agent["http_status"] is None and agent["last_error"] is None
            assert agent["model"] == agent["finetuned_model"] and agent["model"].startswith("ft:")
            assert agent["error_rate"] == 0 and agent["fallback_rate"] == 0

    fleet = one(result.task("Probe the whole fleet from the controller"))
    assert fleet["_event"] == "runner_on_ok" and "status" not in fleet
    assert sorted(fleet["hosts"]) == [h.name for h in lab.hosts]  # all 8 hosts in one module run
    for host in lab.hosts:
        assert fleet["hosts"][host.name]["url"] == host.health_url
        assert summary(fleet["hosts"][host.name]) == summary(per_host[host.name])
    assert fleet["summary"] == {"hosts": 8, "healthy": 8, "findings": {}, "unhealthy": [],
                                "by_status": {"ok": 8, "degraded": 0, "down": 0, "unreachable": 0, "unknown": 0}}

    # fail_on: down has nothing to fail on.
    assert all(res["_event"] == "runner_on_ok" for res in result.task("Fail each host that is down").values())
    assert one(result.task("Fail the fleet when a host is down"))["_event"] == "runner_on_ok"


def test_simulator_faults_each_on_its_host(clean_lab, run):
    lab = clean_lab
    targets, bystander = lab.hosts[:len(ROUND1)], lab.hosts[len(ROUND1)]
    for host, (args, *_rest) in zip(targets, ROUND1):
        lab.cli("fault", *args, "--hosts", host.name)
    expected = {host: (status, dict.fromkeys(AGENTS, (agent_status, last)))
                for host, (_a, status, _h, agent_status, last, _f) in zip(targets, ROUND1)}
    expected[bystander] = ("ok", dict.fromkeys(AGENTS, ("ok", None)))
    assert wait_until(shows(lab, expected), SHOW_S, what="every fault on its host") is True

    # At -vvvv, with a recognisable key in the controller's environment: neither it nor the fleet key shows.
    planted = "MhPlanted" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(23))
    result = run(PROBE, verbosity=4, envvars={"MISTRAL_API_KEY": planted})
    assert "ESTABLISH SSH CONNECTION" in result.stdout  # really -vvvv, really over SSH
    assert_absent(result, planted)
    assert result.rc == 0, result.stdout  # the failed fail_on tasks are ignored: the play goes on

    per_host = result.task("Probe each host from itself")
    fleet = one(result.task("Probe the whole fleet from the controller"))
    for host, (args, status, http_status, agent_status, last, findings) in zip(targets, ROUND1):
        res = per_host[host.name]
        assert res["_event"] == "runner_on_ok", (args, res)
        assert (res["status"], res["healthy"], res["http_status"]) == (status, False, http_status), args
        for name, agent in res["agents"].items():
            assert (agent["status"], agent["last_error"]["status"]) == (agent_status, last), (args, name, agent)
            if status == "down":
                assert agent["error_rate"] == 1.0 and agent["fallbacks"] == 0, (args, agent)
            else:  # rate limited: the baseline answered every request, nothing failed
                assert agent["error_rate"] == 0 and agent["fallback_rate"] > 0.10, (args, agent)
        assert codes(res) == findings, args
        if status == "down":
            service_down = [f for f in res["findings"] if f["code"] == "service_down"][0]
            assert service_down["severity"] == "critical" and service_down["evidence"]["agents_down"] == sorted(AGENTS)
        assert summary(fleet["hosts"][host.name]) == summary(res), args
    calm = per_host[bystander.name]
    assert (calm["status"], calm["healthy"], calm["findings"]) == ("ok", True, [])
    assert summary(fleet["hosts"][bystander.name]) == summary(calm)
    assert fleet["summary"]["by_status"] == {"ok": 1, "degraded": 1, "down": 6, "unreachable": 0, "unknown": 0}
    assert fleet["summary"]["unhealthy"] == [h.name for h in targets] and fleet["summary"]["healthy"] == 1
    assert fleet["summary"]["findings"] == {"agent_down": 30, "error_rate_high": 30, "service_down": 6,
                                            "agent_degraded": 5, "fallback_rate_high": 5}

    # fail_on: down fails the down hosts, each with a message naming it; the degraded and healthy ones pass.
    down_hosts = [h for h, fault in zip(targets, ROUND1) if fault[1] == "down"]
    failed = result.task("Fail each host that is down")
    for host in lab.hosts:
        if host in down_hosts:
            assert failed[host.name]["_event"] == "runner_on_failed"
            assert failed[host.name]["msg"] == "fail_on=down: %s is down" % host.health_url
            assert failed[host.name]["status"] == "down"  # the full result comes back with the failure
        else:
            assert failed[host.name]["_event"] == "runner_on_ok", host.name
    fleet_failed = one(result.task("Fail the fleet when a host is down"))
    assert fleet_failed["_event"] == "runner_on_failed"
    assert fleet_failed["msg"] == "fail_on=down: " + ", ".join("%s is down" % h.name for h in down_hosts)
    assert fleet_failed["summary"] == fleet["summary"]

    # Check mode: the module probes just the same and returns the same.
    checked = run(PROBE, check=True)
    assert checked.rc == 0, checked.stdout
    for task in ("Probe each host from itself", "Fail each host that is down"):
        for name, res in checked.task(task).items():
            assert res["_event"] == result.task(task)[name]["_event"] and res["changed"] is False
            assert summary(res) == summary(result.task(task)[name]), (task, name)
    checked_fleet = one(checked.task("Probe the whole fleet from the controller"))
    assert {n: summary(r) for n, r in checked_fleet["hosts"].items()} == {n: summary(r) for n, r in fleet["hosts"].items()}
    assert checked_fleet["summary"] == fleet["summary"]

    # wait: true while the faults are still on, then `lab clear`: it returns once every host is healthy again,
    # having waited on each faulted host and not on the bystander. The faults are cleared only once the wait
    # has begun, so the faulted hosts are unhealthy at its start however slow the controller is.
    waited, cleared = clear_while_waiting(lab, run, "Wait on each host until healthy")
    assert waited.rc == 0, waited.stdout
    assert time.monotonic() - cleared < 60
    for host in lab.hosts:
        res = waited.task("Wait on each host until healthy")[host.name]
        assert (res["_event"], res["status"], res["healthy"], res["findings"]) == ("runner_on_ok", "ok", True, [])
        assert (res["attempts"] > 1) == (host != bystander), (host.name, res["attempts"])
    assert all(lab.health(h)[1]["status"] == "ok" for h in lab.hosts)


def test_model_and_host_faults(clean_lab, run):
    lab = clean_lab
    deleted, retired, killed, broken = lab.hosts[:4]
    bystanders = lab.hosts[4:]
    # qa_agent's fine-tuned model deleted on two hosts; on the second its baseline retired as well.
    lab.cli("fault", "model_unavailable", "--agents", "qa_agent", "--hosts", f"{deleted.name},{retired.name}")
    lab.cli("fault", "retired_baseline", "--agents", "qa_agent", "--hosts", retired.name)
    # One host's service killed; another's killed with start_failure armed, then started the contract's way.
    lab.cli("fault", "service_down", "--hosts", killed.name)
    lab.cli("fault", "start_failure", "--hosts", broken.name)
    lab.cli("fault", "service_down", "--hosts", broken.name)
    proc = subprocess.run(["python3", "genesis_orchestrator.py"], cwd=broken.app_root, env=broken.environment(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "cannot start" in proc.stderr, proc.stderr
    assert killed.pid() is None and broken.pid() is None

    others_ok = {a: ("ok", None) for a in AGENTS[1:]}
    expected = {deleted: ("degraded", dict(others_ok, qa_agent=("degraded", 400))),
                retired: ("down", dict(others_ok, qa_agent=("down", 400))),
                killed: ("unreachable", {}), broken: ("unreachable", {})}
    expected.update({host: ("ok", dict.fromkeys(AGENTS, ("ok", None))) for host in bystanders})
    assert wait_until(shows(lab, expected), SHOW_S, what="every fault on its host") is True

    result = run(PROBE)
    assert result.rc == 0, result.stdout  # hosts that do not answer are findings, never a failed play
    per_host = result.task("Probe each host from itself")
    fleet = one(result.task("Probe the whole fleet from the controller"))
    for host in lab.hosts:
        assert per_host[host.name]["_event"] == "runner_on_ok", host.name
        assert summary(fleet["hosts"][host.name]) == summary(per_host[host.name]), host.name

    res = per_host[deleted.name]  # qa_agent falls back to its baseline; nobody else moves
    assert (res["status"], res["http_status"]) == ("degraded", 200)
    assert summary(res)["agents"] == dict(others_ok, qa_agent=("degraded", 400))
    assert res["agents"]["qa_agent"]["fallback_rate"] > 0.10 and res["agents"]["qa_agent"]["error_rate"] == 0
    assert codes(res) == [("agent_degraded", "qa_agent"), ("fallback_rate_high", "qa_agent")]

    res = per_host[retired.name]  # no fallback left: qa_agent down; support_agent shares the baseline, still ok
    assert (res["status"], res["http_status"]) == ("down", 503)
    assert summary(res)["agents"] == dict(others_ok, qa_agent=("down", 400))
    assert codes(res) == [("agent_down", "qa_agent"), ("error_rate_high", "qa_agent"), ("service_down", None)]
    assert [f["evidence"]["agents_down"] for f in res["findings"] if f["code"] == "service_down"] == [["qa_agent"]]

    for host in (killed, broken):
        res = per_host[host.name]
        assert (res["status"], res["healthy"], res["http_status"], res["agents"]) == ("unreachable", False, None, {})
        assert codes(res) == [("unreachable", None)]
        assert res["findings"][0]["severity"] == "critical" and host.health_url in res["findings"][0]["message"]

    for host in bystanders:
        assert summary(per_host[host.name]) == {"status": "ok", "healthy": True, "http_status": 200, "findings": [],
                                                "agents": dict.fromkeys(AGENTS, ("ok", None))}
    assert fleet["summary"]["by_status"] == {"ok": 4, "degraded": 1, "down": 1, "unreachable": 2, "unknown": 0}
    assert fleet["summary"]["findings"] == {"agent_degraded": 1, "fallback_rate_high": 1, "agent_down": 1,
                                            "error_rate_high": 1, "service_down": 1, "unreachable": 2}

    failed = result.task("Fail each host that is down")
    assert sorted(name for name, res in failed.items() if res["_event"] == "runner_on_failed") == sorted(
        h.name for h in (retired, killed, broken))
    assert failed[retired.name]["msg"] == "fail_on=down: %s is down" % retired.health_url
    assert failed[killed.name]["msg"] == "fail_on=down: %s is unreachable" % killed.health_url
    fleet_failed = one(result.task("Fail the fleet when a host is down"))
    assert fleet_failed["_event"] == "runner_on_failed"
    assert fleet_failed["msg"] == "fail_on=down: %s is down, %s is unreachable, %s is unreachable" % (
        retired.name, killed.name, broken.name)

    # `lab clear` (once the fleet-mode wait has begun) lifts start_failure and starts both hosts; the wait
    # returns once all are healthy.
    # (120 s: two hosts to start, and the errors of two others to leave their windows, on a loaded machine)
    waited, cleared = clear_while_waiting(lab, run, "Wait on the whole fleet until healthy", mode="fleet", wait_timeout=120)
    assert waited.rc == 0, waited.stdout
    assert time.monotonic() - cleared < 120
    fleet = one(waited.task("Wait on the whole fleet until healthy"))
    assert fleet["_event"] == "runner_on_ok" and fleet["summary"]["healthy"] == 8
    for host in lab.hosts:
        res = fleet["hosts"][host.name]
        assert (res["status"], res["healthy"], res["findings"]) == ("ok", True, []), host.name
    # qa_agent's errors and fallbacks had to leave the window first
    assert fleet["hosts"][deleted.name]["attempts"] > 1 and fleet["hosts"][retired.name]["attempts"] > 1
    assert all(fleet["hosts"][h.name]["attempts"] == 1 for h in bystanders)
    assert killed.pid() and broken.pid()
