# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert-driven remediation, end to end, with the real parts: the lab's hosts scraped by a real Prometheus
loading extensions/prometheus's rules, a real Alertmanager (Debian's prometheus-alertmanager), and
ansible-rulebook running extensions/eda's rulebook on its built-in webhook source.

fault -> the alert fires -> Alertmanager posts it -> the rulebook runs the remediation on that host ->
the host recovers -> the alert resolves. The rules' `for:` and range windows are shortened for the test
(a copy of the rules file); everything else is as shipped."""

from __future__ import annotations

import glob
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pytest
import yaml

from tests.conftest import ROOT, get_json, wait_until
from tests.integration.test_remediate import models
from tests.integration.test_rollback import fleet, snapshot  # noqa: F401 (fixture)  pylint: disable=unused-import

RULES = os.path.join(ROOT, "extensions", "prometheus", "rules", "genesis-model-ops.rules.yml")
RULEBOOK = os.path.join(ROOT, "extensions", "eda", "rulebooks", "genesis-model-ops.yml")
BIN = os.path.join(ROOT, ".venv", "bin")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
            {"url": "http://127.0.0.1:%d/endpoint" % ports["rulebook"], "send_resolved": True}]}],
    }), encoding="utf-8")
    chat = Chat()
    threading.Thread(target=chat.serve_forever, daemon=True).start()
    reports = tmp_path / "reports"
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({
        "model_ops_eda_host": "127.0.0.1", "model_ops_eda_port": ports["rulebook"],
        "model_ops_report_dir": str(reports), "model_ops_notify_url": chat.url,
        # 0%: the lab's 10-request health window cannot tell a 5% share of 429s from the 10% threshold
        "model_ops_rate_limit_pct": 0, "model_ops_max_hosts": 1}), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), PATH=BIN + os.pathsep + os.environ["PATH"])
    logs = {name: open(tmp_path / ("%s.log" % name), "w", encoding="utf-8")  # pylint: disable=consider-using-with
            for name in ("prometheus", "alertmanager", "rulebook")}
    procs = [
        subprocess.Popen(["prometheus", "--config.file=%s" % (tmp_path / "prometheus.yml"),  # pylint: disable=consider-using-with
                          "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                          "--web.listen-address=127.0.0.1:%d" % ports["prometheus"]],
                         stdout=logs["prometheus"], stderr=subprocess.STDOUT, cwd=tmp_path),
        subprocess.Popen(["prometheus-alertmanager", "--config.file=%s" % (tmp_path / "alertmanager.yml"),  # pylint: disable=consider-using-with
                          "--storage.path=%s" % (tmp_path / "am"), "--cluster.listen-address=",
                          "--web.listen-address=127.0.0.1:%d" % ports["alertmanager"]],
                         stdout=logs["alertmanager"], stderr=subprocess.STDOUT, cwd=tmp_path),
        subprocess.Popen([os.path.join(BIN, "ansible-rulebook"), "--rulebook", RULEBOOK,  # pylint: disable=consider-using-with
                          "--inventory", lab.inventory, "--vars", str(tmp_path / "vars.yml")],
                         stdout=logs["rulebook"], stderr=subprocess.STDOUT, cwd=ROOT, env=env),
    ]

    def log(name):
        logs[name].flush()
        return (tmp_path / ("%s.log" % name)).read_text(encoding="utf-8")

    def listening(port):
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(lambda: all(listening(port) for port in ports.values()), 60, what="Prometheus, Alertmanager, ansible-rulebook")
        yield {"lab": lab, "ports": ports, "reports": reports, "chat": chat, "log": log}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
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


@pytest.mark.timeout(300)
def test_rate_limit_alert_is_remediated_by_the_rulebook_and_resolves(alerting):
    lab, ports, reports = alerting["lab"], alerting["ports"], alerting["reports"]
    started = time.monotonic()
    host = lab.hosts[3]
    lab.cli("fault", "rate_limit", "--hosts", host.name, "--retry-after", "2")

    wait_until(lambda: "GenesisModelRateLimited" in active_alerts(ports["alertmanager"], host.name), 90,
               interval=1, what="the rate-limit alert at Alertmanager")
    # the rulebook ran remediate.yml on that host alone: the change, the restart, healthy again
    wait_until(lambda: [r["outcome"] for r in runs(reports, "remediate.yml")] or {"log": alerting["log"]("rulebook")[-3000:]},
               150, interval=2, what="a remediation run by the rulebook")
    done = runs(reports, "remediate.yml")
    assert [r["outcome"] for r in done] == ["remediated"], (done, alerting["log"]("rulebook")[-5000:])
    assert [rec["host"] for rec in done[0]["records"]] == [host.name]
    assert models(host)["rollout_percentage"] == 0
    assert all(models(h)["rollout_percentage"] == 100 for h in lab.hosts if h is not host)

    wait_until(lambda: not active_alerts(ports["alertmanager"], host.name) or {"active": active_alerts(ports["alertmanager"], host.name)},
               120, interval=2, what="the alerts of %s resolved" % host.name)
    wait_until(lambda: "resolved: GenesisModelRateLimited on %s" % host.name in alerting["log"]("rulebook"), 30,
               what="the rulebook told of the resolved alert")
    # an alert storm (Alertmanager re-sends, other alerts of the same host) ran the remediation once
    assert len(runs(reports, "remediate.yml")) == 1
    assert time.monotonic() - started < 240
    # the run report went to the team's chat, without the key
    posted = [p["text"] for p in alerting["chat"].posts if p["text"].startswith("# Remediation")]
    assert posted and "**Outcome: remediated.**" in posted[-1]


@pytest.mark.timeout(180)
def test_complete_failure_is_left_to_a_person_once_per_storm(alerting):
    lab, ports = alerting["lab"], alerting["ports"]
    host = lab.hosts[5]
    before = snapshot(lab)
    alert = {"status": "firing", "labels": {"alertname": "GenesisHealthEndpointDown", "instance": host.name,
                                            "job": "genesis", "severity": "critical", "scenario": "complete_failure"},
             "annotations": {"summary": "%s /health is failing" % host.name}, "startsAt": "2026-11-26T05:00:00Z",
             "fingerprint": "0123456789abcdef"}
    payload = {"receiver": "model-ops", "status": "firing", "alerts": [alert], "groupLabels": {"instance": host.name},
               "commonLabels": alert["labels"], "version": "4"}
    for _ in range(5):  # a storm: the same alert, again and again
        request = urllib.request.Request("http://127.0.0.1:%d/endpoint" % ports["rulebook"], method="POST",
                                         data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    wait_until(lambda: any(p["text"].startswith("# Model failure diagnosis") for p in alerting["chat"].posts) or {"log": alerting["log"]("rulebook")[-2000:]},
               120, interval=2, what="the diagnosis posted to the chat")
    time.sleep(5)  # had the storm run it again, a second run would be on its way by now
    assert len([p for p in alerting["chat"].posts if p["text"].startswith("# Model failure diagnosis")]) == 1, alerting["chat"].posts
    assert snapshot(lab) == before  # left to a person: nothing changed, nothing restarted
    assert not runs(alerting["reports"], "remediate.yml")
