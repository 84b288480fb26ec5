# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert-driven remediation, end to end, with the real parts: the lab's hosts scraped by a real Prometheus
loading extensions/prometheus's rules, a real Alertmanager (Debian's prometheus-alertmanager) sending the
webhook token, and ansible-rulebook running extensions/eda's rulebooks on its built-in webhook source.

fault -> the alert fires -> Alertmanager posts it -> the rulebook runs the remediation on that host ->
the host recovers -> the alert resolves. The rules' `for:` and range windows are shortened for the test
(a copy of the rules file); everything else is as shipped.

Through AWX (genesis-model-ops.yml): no AWX can run here. ansible-rulebook talks to tests/integration/awx_api.py,
a stand-in for the API calls it makes, which takes or refuses each launch by AWX's own rules for the templates
extensions/awx/job_templates.yml makes, and runs a taken job the way AWX does, with ansible-runner."""

from __future__ import annotations

import glob
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import types
import urllib.error
import urllib.request

import pytest
import yaml

from tests.conftest import ROOT, get_json, wait_until
from tests.integration.awx_api import AwxApi
from tests.integration.test_awx_jobs import awx_job
from tests.integration.test_diagnose import controller_calls
from tests.integration.test_remediate import models
from tests.integration.test_rollback import assert_key_shown_nowhere, fleet, snapshot  # noqa: F401 (fixture)  pylint: disable=unused-import

RULES = os.path.join(ROOT, "extensions", "prometheus", "rules", "genesis-model-ops.rules.yml")
RULEBOOKS = os.path.join(ROOT, "extensions", "eda", "rulebooks")
RULEBOOK = os.path.join(RULEBOOKS, "genesis-model-ops-no-controller.yml")  # without a controller
AWX_RULEBOOK = os.path.join(RULEBOOKS, "genesis-model-ops.yml")
BIN = os.path.join(ROOT, ".venv", "bin")
RULEBOOK_ENV = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                    ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), PATH=BIN + os.pathsep + os.environ["PATH"],
                    # how often run_job_template asks the controller whether a job is done (10 s by default)
                    EDA_JOB_TEMPLATE_REFRESH_DELAY="1",
                    # its log is read while it runs: an action's output must not wait in a buffer
                    PYTHONUNBUFFERED="1")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_rulebook(tmp_path, name, rulebook, variables, *args):
    """ansible-rulebook on ``rulebook`` with ``variables`` (a vars file) and ``args``; (process, read the log)."""
    (tmp_path / ("%s-vars.yml" % name)).write_text(yaml.safe_dump(variables), encoding="utf-8")
    log = open(tmp_path / ("%s.log" % name), "w", encoding="utf-8")  # pylint: disable=consider-using-with
    proc = subprocess.Popen([os.path.join(BIN, "ansible-rulebook"), "--rulebook", rulebook,  # pylint: disable=consider-using-with
                             "--vars", str(tmp_path / ("%s-vars.yml" % name)), *args],
                            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=RULEBOOK_ENV)

    def read():
        log.flush()
        return (tmp_path / ("%s.log" % name)).read_text(encoding="utf-8")
    proc.log, proc.read = log, read
    return proc


def descendants(pid):
    """The processes started under ``pid``: a playbook run by ansible-rulebook (through ansible-runner, in a
    session of its own) outlives a rulebook that is stopped while it runs."""
    children = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat, encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def stop(*procs):
    left = [child for proc in procs for child in descendants(proc.pid)]
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if getattr(proc, "log", None):
            proc.log.close()
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def alertmanager_payload(*alerts):
    """What Alertmanager's webhook posts: ``alerts`` are (alertname, instance, scenario) of firing alerts."""
    items = [{"status": "firing", "labels": {"alertname": name, "instance": instance, "severity": "critical",
                                             "scenario": scenario},
              "annotations": {"summary": "%s on %s" % (name, instance)}, "startsAt": "2026-11-26T05:00:00Z",
              "fingerprint": "%016x" % index} for index, (name, instance, scenario) in enumerate(alerts)]
    return {"receiver": "model-ops", "status": "firing", "alerts": items, "groupLabels": {}, "commonLabels": {},
            "version": "4"}


def post(port, payload, authorization=None):
    """POST ``payload`` to the rulebook's webhook, as Alertmanager does; the HTTP status."""
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    request = urllib.request.Request("http://127.0.0.1:%d/endpoint" % port, method="POST",
                                     data=json.dumps(payload).encode(), headers=headers)
    try:
        # (ansible-rulebook can be slow to answer on a loaded machine)
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def refused_without_the_token(port, token, payload):
    """No token, another token, the token under another scheme: each refused with 401."""
    return [post(port, payload, authorization) for authorization in
            (None, "Bearer " + secrets.token_urlsafe(24), "Basic " + token, "Bearer " + token[:-1], "")]


class Chat(http.server.ThreadingHTTPServer):
    """A chat webhook: keeps what is posted to it."""

    def __init__(self):
        self.posts = []
        chat = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                chat.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hooks/model-ops" % self.server_address[1]


@pytest.fixture
def alerting(fleet, tmp_path):  # noqa: F811
    """Prometheus + Alertmanager + ansible-rulebook, wired as a site would, on free ports."""
    lab = fleet
    for tool in ("prometheus", "prometheus-alertmanager", "java"):
        assert shutil.which(tool), "%s is not installed: make setup installs it" % tool
    ports = {name: free_port() for name in ("prometheus", "alertmanager", "rulebook")}
    token = secrets.token_urlsafe(24)
    # the shipped rules, with every `for:` and range window shortened so a test takes a minute, not ten
    rules = open(RULES, encoding="utf-8").read()
    rules = re.sub(r"(?m)^(\s*)for: .*$", r"\1for: 3s", rules)
    rules = re.sub(r"\[[0-9]+m\]", "[15s]", rules)
    (tmp_path / "rules.yml").write_text(rules, encoding="utf-8")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:%d" % ports["alertmanager"]]}]}]},
        "scrape_configs": [{"job_name": "genesis", "file_sd_configs": [
            {"files": [str(lab.fleet.state / "prometheus" / "targets.json")]}]}],
    }), encoding="utf-8")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "model-ops", "group_by": ["alertname", "instance"], "group_wait": "1s",
                  "group_interval": "2s", "repeat_interval": "1m"},
        "receivers": [{"name": "model-ops", "webhook_configs": [
            {"url": "http://127.0.0.1:%d/endpoint" % ports["rulebook"], "send_resolved": True,
             # the rulebook's token, as a site sets it (the authorization type is Bearer by default)
             "http_config": {"authorization": {"credentials": token}}}]}],
    }), encoding="utf-8")
    chat = Chat()
    threading.Thread(target=chat.serve_forever, daemon=True).start()
    reports = tmp_path / "reports"
    logs = {name: open(tmp_path / ("%s.log" % name), "w", encoding="utf-8")  # pylint: disable=consider-using-with
            for name in ("prometheus", "alertmanager")}
    procs = [
        subprocess.Popen(["prometheus", "--config.file=%s" % (tmp_path / "prometheus.yml"),  # pylint: disable=consider-using-with
                          "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % ports["prometheus"]],
                         stdout=logs["prometheus"], stderr=subprocess.STDOUT, cwd=tmp_path),
        subprocess.Popen(["prometheus-alertmanager", "--config.file=%s" % (tmp_path / "alertmanager.yml"),  # pylint: disable=consider-using-with
                          "--storage.path=%s" % (tmp_path / "am"), "--cluster.listen-address=",
                          "--web.listen-address=127.0.0.1:%d" % ports["alertmanager"]],
                         stdout=logs["alertmanager"], stderr=subprocess.STDOUT, cwd=tmp_path),
        start_rulebook(tmp_path, "rulebook", RULEBOOK, {
            "model_ops_eda_host": "127.0.0.1", "model_ops_eda_port": ports["rulebook"], "model_ops_eda_token": token,
            "model_ops_report_dir": str(reports), "model_ops_notify_url": chat.url,
            # 0%: the lab's 10-request health window cannot tell a 5% share of 429s from the 10% threshold
            "model_ops_rate_limit_pct": 0, "model_ops_max_hosts": 1}, "--inventory", lab.inventory),
    ]

    def log(name):
        if name == "rulebook":
            return procs[-1].read()
        logs[name].flush()
        return (tmp_path / ("%s.log" % name)).read_text(encoding="utf-8")

    try:
        wait_until(lambda: all(listening(port) for port in ports.values()), 60, what="Prometheus, Alertmanager, ansible-rulebook")
        yield {"lab": lab, "ports": ports, "reports": reports, "chat": chat, "log": log, "token": token}
    finally:
        stop(*procs)
        chat.shutdown()
        for handle in logs.values():
            handle.close()


def active_alerts(port, instance):
    code, body = get_json("http://127.0.0.1:%d/api/v2/alerts?active=true&silenced=false&inhibited=false" % port)
    assert code == 200, body
    return sorted(a["labels"]["alertname"] for a in body if a["labels"].get("instance") == instance)


def runs(reports, playbook):
    """The run reports in ``reports`` written by ``playbook``."""
    found = []
    for path in sorted(glob.glob(str(reports / "remediation-2*.json"))):
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
        if report.get("playbook") == playbook:
            found.append(report)
    return found


@pytest.mark.timeout(1200)
def test_rate_limit_alert_is_remediated_by_the_rulebook_and_resolves(alerting):
    lab, ports, reports = alerting["lab"], alerting["ports"], alerting["reports"]
    host = lab.hosts[3]
    calls = controller_calls(lab)
    lab.cli("fault", "rate_limit", "--hosts", host.name, "--retry-after", "2")

    wait_until(lambda: "GenesisModelRateLimited" in active_alerts(ports["alertmanager"], host.name), 90,
               interval=1, what="the rate-limit alert at Alertmanager")
    # the rulebook ran remediate.yml on that host alone: the change, the restart, healthy again
    wait_until(lambda: [r["outcome"] for r in runs(reports, "remediate.yml")] or {"log": alerting["log"]("rulebook")[-3000:]},
               600, interval=2, what="a remediation run by the rulebook")
    done = runs(reports, "remediate.yml")
    assert [r["outcome"] for r in done] == ["remediated"], (done, alerting["log"]("rulebook")[-5000:])
    assert [rec["host"] for rec in done[0]["records"]] == [host.name]
    # each diagnosis (the key, five fine-tuned and three baseline ids: remediate.yml's before and after, and any the
    # rulebook ran for the host's other alerts) and the rate-limit run's key check, once each, for all eight hosts
    diagnoses = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(reports.glob("diagnosis-2*.json"))]
    assert diagnoses and all(d["api_calls"] == 9 for d in diagnoses), [d["api_calls"] for d in diagnoses]
    assert controller_calls(lab) - calls == 9 * len(diagnoses) + 1
    assert models(host)["rollout_percentage"] == 0
    assert all(models(h)["rollout_percentage"] == 100 for h in lab.hosts if h is not host)

    wait_until(lambda: not active_alerts(ports["alertmanager"], host.name) or {"active": active_alerts(ports["alertmanager"], host.name)},
               120, interval=2, what="the alerts of %s resolved" % host.name)
    wait_until(lambda: "resolved: GenesisModelRateLimited on %s" % host.name in alerting["log"]("rulebook"), 30,
               what="the rulebook told of the resolved alert")
    # an alert storm (Alertmanager re-sends, other alerts of the same host) ran the remediation once
    assert len(runs(reports, "remediate.yml")) == 1
    # the run report went to the team's chat
    posted = [p["text"] for p in alerting["chat"].posts if p["text"].startswith("# Remediation")]
    assert posted and "**Outcome: remediated.**" in posted[-1]
    # no key, no token: not in the rulebook's log (the playbooks' output is in it), not in any chat post, not in the
    # run's reports, not in any host's audit log
    said = types.SimpleNamespace(stdout="\n".join([alerting["log"]("rulebook")] + [p["text"] for p in alerting["chat"].posts]),
                                 events=[])
    assert "PLAY RECAP" in said.stdout  # the playbooks' output is there to be searched
    assert_key_shown_nowhere(lab, said, reports)
    assert alerting["token"] not in said.stdout


@pytest.mark.timeout(180)
def test_complete_failure_is_left_to_a_person_once_per_storm(alerting):
    lab, ports, token = alerting["lab"], alerting["ports"], alerting["token"]
    host = lab.hosts[5]
    before = snapshot(lab)
    payload = alertmanager_payload(("GenesisHealthEndpointDown", host.name, "complete_failure"))
    # anyone who reaches the webhook without the token is refused, and nothing runs
    assert refused_without_the_token(ports["rulebook"], token, payload) == [401] * 5
    time.sleep(10)  # had one been taken, its diagnosis would be under way by now
    assert not alerting["chat"].posts and not list(alerting["reports"].glob("diagnosis-*"))
    for _ in range(5):  # a storm: the same alert, again and again
        assert post(ports["rulebook"], payload, "Bearer " + token) == 200
    wait_until(lambda: any(p["text"].startswith("# Model failure diagnosis") for p in alerting["chat"].posts) or {"log": alerting["log"]("rulebook")[-2000:]},
               120, interval=2, what="the diagnosis posted to the chat")
    time.sleep(5)  # had the storm run it again, a second run would be on its way by now
    assert len([p for p in alerting["chat"].posts if p["text"].startswith("# Model failure diagnosis")]) == 1, alerting["chat"].posts
    assert snapshot(lab) == before  # left to a person: nothing changed, nothing restarted
    assert not runs(alerting["reports"], "remediate.yml")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("rulebook", [AWX_RULEBOOK, RULEBOOK], ids=["through-awx", "without-controller"])
def test_without_a_token_the_rulebook_does_not_start(rulebook, tmp_path):
    port = free_port()
    api = AwxApi(secrets.token_urlsafe(24))
    threading.Thread(target=api.serve_forever, daemon=True).start()
    proc = start_rulebook(tmp_path, "rulebook", rulebook, {"model_ops_eda_host": "127.0.0.1", "model_ops_eda_port": port},
                          "--inventory", os.path.join(ROOT, "inventories", "example", "hosts.ini"),
                          "--controller-url", api.url, "--controller-token", api.token)
    try:
        assert proc.wait(timeout=180) != 0
        assert "'model_ops_eda_token' is undefined" in proc.read(), proc.read()[-3000:]
        assert not listening(port) and not api.launches
    finally:
        stop(proc)
        api.shutdown()


@pytest.fixture
def awx(tmp_path):
    """The AWX stand-in (tests/integration/awx_api.py) and ansible-rulebook on genesis-model-ops.yml, wired to it."""
    def start(run_job=None, **variables):
        api = AwxApi(secrets.token_urlsafe(24), run_job)
        threading.Thread(target=api.serve_forever, daemon=True).start()
        token, port = secrets.token_urlsafe(24), free_port()
        proc = start_rulebook(tmp_path, "rulebook", AWX_RULEBOOK,
                              dict({"model_ops_eda_host": "127.0.0.1", "model_ops_eda_port": port,
                                    "model_ops_eda_token": token}, **variables),
                              "--controller-url", api.url, "--controller-token", api.token, "--verbose")
        started.append((api, proc))
        wait_until(lambda: listening(port) or proc.poll() is not None, 120, what="ansible-rulebook's webhook")
        assert proc.poll() is None, proc.read()[-3000:]
        return api, proc, port, token

    started = []
    yield start
    for api, proc in started:
        stop(proc)
        api.shutdown()


@pytest.mark.timeout(300)
def test_alerts_launch_the_awx_templates_only_with_the_token(awx):
    api, rulebook, port, token = awx()
    # at its start ansible-rulebook checked the controller (GET config) with the controller's token
    assert ("GET", "/api/v2/config/") in api.requests
    alerts = alertmanager_payload(("GenesisModelRateLimited", "genesis-004", "rate_limit"),
                                  ("GenesisModelUnavailable", "genesis-005", "model_unavailable"),
                                  ("GenesisHealthEndpointDown", "genesis-006", "complete_failure"),
                                  ("GenesisModelErrorRateHigh", "genesis-007", "unknown"))
    assert refused_without_the_token(port, token, alerts) == [401] * 5
    time.sleep(5)
    assert not api.launches and not [r for r in api.requests if "launch" in r[1]], api.requests

    assert post(port, alerts, "Bearer " + token) == 200
    wait_until(lambda: len(api.launches) == 4 or {"launches": api.launches, "log": rulebook.read()[-2000:]}, 90,
               what="four launches")
    launched = {launch["limit"]: launch for launch in api.launches}
    remediate = {"max_hosts": 1, "dry_run": "false", "pct": 5}
    expected = {
        "genesis-004": ("Genesis model_ops remediate", dict(remediate, model_ops_auto_approve=["rate_limit"])),
        "genesis-005": ("Genesis model_ops remediate", dict(remediate, model_ops_auto_approve=["model_unavailable"])),
        "genesis-006": ("Genesis model_ops diagnose, approve, remediate", remediate),
        "genesis-007": ("Genesis model_ops diagnose", {"model_ops_probe": "host", "fail_on": "unhealthy"}),
    }
    assert sorted(launched) == sorted(expected)
    for instance, (template, extra_vars) in expected.items():
        launch = launched[instance]
        # AWX takes every field as sent: no survey error, nothing ignored
        assert (launch["template"], launch["errors"], launch["ignored_fields"]) == (template, {}, {}), launch
        assert launch["request"] == {"limit": instance, "extra_vars": extra_vars}, launch
    # the rulebook followed each job to its end, and showed neither token
    wait_until(lambda: rulebook.read().count("completed successfully (job_id:") == 4 or {"log": rulebook.read()[-2000:]},
               60, what="the jobs followed to their end")
    assert token not in rulebook.read() and api.token not in rulebook.read()

    # a storm of the same alerts launches nothing more within the throttle's 5 minutes
    for _ in range(3):
        assert post(port, alerts, "Bearer " + token) == 200
    time.sleep(5)
    assert len(api.launches) == 4


@pytest.mark.timeout(420)
def test_a_rate_limit_alert_is_remediated_by_an_awx_job(fleet, awx, tmp_path):  # noqa: F811
    lab = fleet
    host = lab.hosts[4]
    lab.cli("fault", "rate_limit", "--hosts", host.name, "--retry-after", "2")
    lab.cli("wait", "--hosts", host.name, "--status", "degraded", "--timeout", "40")
    jobs = []

    def run_job(template, launch):
        """The job, as AWX runs it: the template's playbook from the project, its variables and limit."""
        runner, events, _artifacts = awx_job(lab, tmp_path, template["playbook"], launch["extra_vars"],
                                             job_id=launch["id"], limit=launch["limit"])
        jobs.append((runner, events))
        return runner.rc == 0

    # 0%: the lab's 10-request health window cannot tell a 5% share of 429s from the 10% threshold
    api, rulebook, port, token = awx(run_job, model_ops_rate_limit_pct=0)
    assert post(port, alertmanager_payload(("GenesisModelRateLimited", host.name, "rate_limit")), "Bearer " + token) == 200
    wait_until(lambda: (api.jobs and api.jobs[1]["status"] != "running") or {"log": rulebook.read()[-2000:]}, 300,
               interval=2, what="the AWX job launched by the rulebook")
    assert api.jobs[1]["status"] == "successful", jobs[0][0].stdout.read()[-5000:]
    assert api.launches[0]["limit"] == host.name
    stats = [e for e in jobs[0][1] if e.get("event") == "playbook_on_stats"][-1]["event_data"]
    assert stats["artifact_data"]["model_ops_outcome"] == "remediated"
    assert models(host)["rollout_percentage"] == 0
    assert all(models(h)["rollout_percentage"] == 100 for h in lab.hosts if h is not host)
    wait_until(lambda: "'Genesis model_ops remediate' completed successfully (job_id: 1)" in rulebook.read()
               or {"log": rulebook.read()[-2000:]}, 30, what="the rulebook saw the job end")
