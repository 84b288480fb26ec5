# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""diagnose.yml for real: `ansible-playbook diagnose.yml` (through ansible-runner, the engine AWX uses)
against the 8-host lab over SSH, the real Mistral simulator, the real Prometheus.

Each lab fault is injected alone, shown on the hosts' own /health first, then diagnosed twice:
per host (the default, one module run on each host over SSH) and from the controller under
--check (no task on the hosts). Both must give the same verdict, hosts and agents; every JSON
report must validate against docs/diagnosis-report.schema.json; the lab's API key must show in
no output and no report file; the API calls the report counts must be those the simulator logged
from the controller, within the budget of one per key and distinct model id; every evidence line
must say when it was seen.
"""

from __future__ import annotations

import glob
import hashlib
import html
import json
import os
import re
import shutil
import urllib.parse
import urllib.request

import jsonschema
import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils._prometheus import DEFAULT_QUERY
from lab.fleet import prometheus_address
from tests.conftest import ROOT, next_command, wait_until

AGENTS = ["qa_agent", "support_agent", "legal_agent", "analyst_agent", "content_agent"]
PLAYBOOK = os.path.join(ROOT, "diagnose.yml")
SHOW_S = 40  # a fault shows on /health within 30 s (tests/lab/test_fleet.py), with some slack
with open(os.path.join(ROOT, "docs", "diagnosis-report.schema.json"), encoding="utf-8") as handle:
    SCHEMA = json.load(handle)


def fleet_key(lab):
    key = lab.hosts[0].env_file.read_text(encoding="utf-8").split("=", 1)[1].strip()
    assert len(key) == 32
    return key


def controller_calls(lab):
    """The /v1 calls the simulator has answered so far from the controller's address (the hosts call from theirs)."""
    log = lab.fleet.state / "mistral.log"
    fields = [line.split() for line in log.read_text(encoding="utf-8").splitlines()] if log.exists() else []
    return sum(1 for parts in fields if len(parts) > 3 and parts[1] == "127.0.0.1" and parts[3].startswith("/v1/"))


def shows(lab, expected, every_agent=False):
    """wait_until predicate: {host name: service status, or a tuple of them} on the hosts' own /health;
    every_agent: each agent of the host in that status too (a host is down as soon as one agent is)."""
    by_name = {h.name: h for h in lab.hosts}

    def check():
        pending = {}
        for name, status in expected.items():
            body = lab.health(by_name[name])[1]
            wanted = status if isinstance(status, tuple) else (status,)
            seen = [body.get("status")] + ([a.get("status") for a in (body.get("agents") or {}).values()] if every_agent else [])
            if any(item not in wanted for item in seen):
                pending[name] = seen
        return not pending or pending
    return check


@pytest.fixture
def diagnose(lab, play, tmp_path):
    """Run diagnose.yml; return (run, report). Checks what every run must be, whatever the fault."""
    key = fleet_key(lab)
    runs = []

    def go(probe="host", check=False, extravars=None, expect_rc=0, limit=None, previous=None, calls_logged=True):
        """previous: an earlier run's report folder, whose latest report this run reads; calls_logged: false when a
        hung call is logged only once the test releases it."""
        report_dir = tmp_path / ("reports-%d" % len(runs))
        if previous:
            report_dir.mkdir()
            shutil.copy(previous / "diagnosis-latest.json", report_dir)
        extra = dict({"model_ops_probe": probe, "model_ops_report_dir": str(report_dir)}, **(extravars or {}))
        calls_before = controller_calls(lab)
        result = play(PLAYBOOK, extravars=extra, check=check, limit=limit)
        runs.append(result)
        assert result.rc == expect_rc, result.stdout
        files = sorted(os.path.basename(p) for p in glob.glob(str(report_dir / "*")))
        assert len(files) == 6 and {"diagnosis-latest.json", "diagnosis-latest.md", "diagnosis-latest.html"} <= set(files), files
        stamped = [f for f in files if f.startswith("diagnosis-2") and f.endswith(".json")]
        assert len(stamped) == 1 and {stamped[0][:-5] + ".md", stamped[0][:-5] + ".html"} <= set(files), files
        with open(report_dir / "diagnosis-latest.html", encoding="utf-8") as handle:
            page = handle.read()
        with open(report_dir / (stamped[0][:-5] + ".html"), encoding="utf-8") as handle:
            assert handle.read() == page
        with open(report_dir / "diagnosis-latest.md", encoding="utf-8") as handle:
            markdown = handle.read()
        with open(report_dir / (stamped[0][:-5] + ".md"), encoding="utf-8") as handle:
            assert handle.read() == markdown
        with open(report_dir / "diagnosis-latest.json", encoding="utf-8") as handle:
            report = json.load(handle)
        with open(report_dir / stamped[0], encoding="utf-8") as handle:
            assert json.load(handle) == report
        jsonschema.Draft202012Validator(SCHEMA).validate(report)
        # The key: in no line printed, no event, no report file (its first 10 characters neither).
        texts = [result.stdout, json.dumps(result.events, default=str)]
        texts += [open(path, encoding="utf-8").read() for path in glob.glob(str(report_dir / "*"))]
        for text in texts:
            assert key not in text and key[:10] not in text
        # No token spent unless the runbook's fallback test is asked for.
        assert (report["tokens_spent"] > 0) is bool(extra.get("model_ops_live_check")), report["tokens_spent"]
        # The Mistral API: what the report counts is what the simulator answered, within the budget.
        assert report["api_calls"] <= report["api_budget"]
        if calls_logged:
            assert controller_calls(lab) - calls_before == report["api_calls"]
        # Every evidence line says when it was seen.
        for line in [line for item in report["scenarios"] for line in item["evidence"]] + report["earlier"]:
            assert line["at"], line
        result.report_dir = report_dir  # for a later run's previous=
        assert sorted(report["hosts"]) == (limit.split(",") if limit else [h.name for h in lab.hosts])
        # The summary a person reads at the end of the run says the same as the report.
        assert "verdict: %s" % report["verdict"] in result.stdout
        for item in report["scenarios"]:
            assert item["command"] in result.stdout and item["command"] in markdown
            assert html.escape(item["command"]) in page
        # the page: the verdict first, then the commands; a chart for each chart of the report, drawn
        assert page.index("Verdict: %s" % report["verdict"]) < page.index('id="next"') < page.index('id="hosts"') < page.index('id="charts"')
        for chart in report["charts"]:
            figure = page.split('<figure class="chart" data-host="%s" data-agent="%s">' % (chart["host"], chart["agent"]), 1)[1]
            figure = figure.split("</figure>", 1)[0]
            assert "<svg" in figure and re.search(r'class="series-(errors|fallbacks)"', figure), chart
        # only the hosts that are not ok are listed, the others counted
        bad = [name for name, host in report["hosts"].items() if host["status"] != "ok"]
        assert all("| %s |" % name in markdown for name in bad)
        if bad and len(bad) < len(report["hosts"]):
            assert "\n%d other hosts ok.\n" % (len(report["hosts"]) - len(bad)) in markdown
        # The verdict handed to AWX workflows (set_stats).
        stats = [e for e in result.events if e.get("event") == "playbook_on_stats"]
        assert stats and stats[-1]["event_data"]["artifact_data"]["model_ops_verdict"] == report["verdict"]
        # Read-only: no task changed anything on a host.
        assert [h for h in result.changed_hosts() if h != "localhost"] == []
        return result, report
    return go


def outline(report, agents=True):
    """What must not depend on the mode the diagnosis ran in: verdict, and per scenario its hosts and agents."""
    return report["verdict"], [(s["scenario"], s["hosts"], s["agents"] if agents else None) for s in report["scenarios"]]


def diagnose_both(diagnose, agents=True, **kwargs):
    """Per host for real, then from the controller under --check: the same outline.

    agents=False: a host whose service does not answer names its agents only in its config, which
    the controller mode does not read."""
    _, report = diagnose("host", **kwargs)
    _, checked = diagnose("controller", check=True, **kwargs)
    assert outline(checked, agents) == outline(report, agents), (outline(checked), outline(report))
    return report


def names(lab, *indexes):
    return [lab.hosts[i].name for i in indexes]


def assert_others_ok(report, affected):
    """Every host but the affected ones: ok, in no scenario."""
    for name in set(report["hosts"]) - set(affected):
        assert report["hosts"][name]["status"] == "ok" and report["hosts"][name]["scenarios"] == [], name


def supporting(report):
    """{code: [supporting finding, ...]}"""
    out = {}
    for item in report["supporting"]:
        out.setdefault(item["code"], []).append(item)
    return out


# -- healthy ----------------------------------------------------------------------------------------------


def test_a_healthy_lab_is_healthy_with_no_scenario(clean_lab, diagnose):
    lab = clean_lab
    run, report = diagnose("host", extravars={"fail_on": "unhealthy"})  # nothing to fail on
    assert (report["verdict"], report["scenarios"]) == ("healthy", [])
    assert report["summary"]["healthy"] == len(lab.hosts)
    for name, host in report["hosts"].items():
        assert host["status"] == "ok" and host["scenarios"] == [], name
        assert sorted(host["agents"]) == sorted(AGENTS)  # to_nice_json sorts keys
    # the one key every host holds, by its fingerprint, accepted
    fingerprint = hashlib.sha256(fleet_key(lab).encode()).hexdigest()[:8]
    assert [(fp, k["authenticated"]) for fp, k in report["mistral"]["keys"].items()] == [(fingerprint, True)]
    assert all(m["exists"] for m in report["mistral"]["models"].values())
    # The Mistral API: once per distinct key and model (one key, 5 fine-tuned ids, 3 baselines) for 8 hosts.
    assert report["api_calls"] == 1 + 5 + 3
    assert run.task("Check each distinct key, and every model id its hosts use, with the Mistral API")
    _, checked = diagnose("controller", check=True)
    assert (checked["verdict"], checked["scenarios"], checked["api_calls"]) == ("healthy", [], 9), checked["scenarios"]


# -- each fault alone ----------------------------------------------------------------------------------------


def test_credentials_401_and_403_each_on_its_host(clean_lab, diagnose):
    lab = clean_lab
    bad = names(lab, 1, 2)
    lab.cli("fault", "credentials", "--status", "401", "--hosts", bad[0])
    lab.cli("fault", "credentials", "--status", "403", "--hosts", bad[1])
    wait_until(shows(lab, {bad[0]: "down", bad[1]: "down", names(lab, 0)[0]: "ok"}), SHOW_S, what="credentials on its hosts")
    report = diagnose_both(diagnose)
    assert report["verdict"] == "credentials"
    assert [s["scenario"] for s in report["scenarios"]] == ["credentials"]  # not also a complete failure
    item = report["scenarios"][0]
    assert item["hosts"] == bad and item["agents"] == dict.fromkeys(bad, AGENTS)
    assert item["command"] == next_command("remediate_credentials.yml", "--limit", ",".join(bad))
    for host, status in zip(bad, ("401", "403")):
        assert any(line["host"] == host and ("last_error %s" % status) in line["detail"] for line in item["evidence"])
    # --limit narrows the diagnosis to that host, and the command keeps the limit
    _, limited = diagnose("controller", limit=bad[0])
    assert limited["verdict"] == "credentials"
    assert limited["scenarios"][0]["command"] == next_command("remediate_credentials.yml", "--limit", bad[0])


def test_rate_limit_on_some_hosts_only(clean_lab, diagnose):
    lab = clean_lab
    limited = names(lab, 0, 2)
    lab.cli("fault", "rate_limit", "--hosts", ",".join(limited), "--retry-after", "7")
    wait_until(shows(lab, dict.fromkeys(limited, "degraded")), SHOW_S, what="rate limiting on its hosts")
    report = diagnose_both(diagnose)
    assert [s["scenario"] for s in report["scenarios"]] == ["rate_limit"]
    item = report["scenarios"][0]
    assert item["hosts"] == limited and item["agents"] == dict.fromkeys(limited, AGENTS)
    assert item["command"] == next_command("remediate_rate_limit.yml", "--limit", ",".join(limited))
    assert any("last_error 429" in line["detail"] for line in item["evidence"])
    assert_others_ok(report, limited)
    # the per-host mode under --check too: the same outline as its real run
    _, checked = diagnose("host", check=True)
    assert outline(checked) == outline(report)


def test_model_unavailable_on_one_agent(clean_lab, diagnose):
    lab = clean_lab
    lab.cli("fault", "model_unavailable", "--agents", "legal_agent")
    every = [h.name for h in lab.hosts]
    wait_until(shows(lab, dict.fromkeys(every, "degraded")), SHOW_S, what="legal_agent falling back everywhere")
    report = diagnose_both(diagnose)
    assert [s["scenario"] for s in report["scenarios"]] == ["model_unavailable"]
    item = report["scenarios"][0]
    assert item["hosts"] == every and item["agents"] == dict.fromkeys(every, ["legal_agent"])
    assert item["command"] == next_command("remediate_model_unavailable.yml")
    ft = [m for m, entry in report["mistral"]["models"].items() if entry["exists"] is False]
    assert len(ft) == 1 and ft[0].startswith("ft:mistral-small-2506:")
    assert any(line["source"] == "mistral" and "not found (404)" in line["detail"] for line in item["evidence"])
    assert "fallback_not_viable" not in supporting(report)  # its baseline is alive


def test_model_unavailable_with_a_retired_baseline(clean_lab, diagnose):
    lab = clean_lab
    lab.cli("fault", "model_unavailable", "--agents", "legal_agent")
    lab.cli("fault", "retired_baseline", "--agents", "legal_agent")
    every = [h.name for h in lab.hosts]
    # legal_agent fails over to a dead baseline: down, and the service with it (contract section 4)
    wait_until(shows(lab, dict.fromkeys(every, "down")), SHOW_S, what="legal_agent without a model")
    report = diagnose_both(diagnose)
    assert report["verdict"] == "model_unavailable"
    item = report["scenarios"][0]
    assert item["agents"] == dict.fromkeys(every, ["legal_agent"])
    # the simulator retires it the way Mistral does: the id answers 404 like a deleted one
    retired = report["mistral"]["models"]["mistral-small-2506"]
    assert (retired["exists"], retired["http_status"], retired["error_kind"]) == (False, 404, "not_found")
    # the fallback of the agent's requests is gone too: said next to the verdict
    dead = [item for item in supporting(report)["fallback_not_viable"] if "mistral-small-2506" in item["detail"]]
    assert dead and dead[0]["hosts"] == every
    assert all("legal_agent" in agents for agents in dead[0]["agents"].values())


def test_server_error_slow_and_hang_each_fail_their_host_completely(clean_lab, diagnose):
    lab = clean_lab
    bad = names(lab, 3, 4, 5)
    for host, fault in zip(bad, (["server_error", "--status", "503"], ["slow", "--delay", "5"], ["hang"])):
        lab.cli("fault", *fault, "--hosts", host)
    # complete failure is every agent down, not only the host (down with its first agent down)
    wait_until(shows(lab, dict.fromkeys(bad, "down"), every_agent=True), SHOW_S, what="every model failing on those hosts")
    report = diagnose_both(diagnose)
    assert [s["scenario"] for s in report["scenarios"]] == ["complete_failure"]
    item = report["scenarios"][0]
    assert item["hosts"] == bad and item["agents"] == dict.fromkeys(bad, AGENTS)
    assert item["command"] == next_command("remediate_complete_failure.yml", "--limit", ",".join(bad))
    assert_others_ok(report, bad)


def test_complete_failure_everywhere(clean_lab, diagnose):
    lab = clean_lab
    lab.cli("fault", "complete_failure")
    every = [h.name for h in lab.hosts]
    wait_until(shows(lab, dict.fromkeys(every, "down"), every_agent=True), SHOW_S, what="every host down")
    report = diagnose_both(diagnose, agents=False, extravars={"fail_on": "unhealthy"}, expect_rc=2)
    assert [s["scenario"] for s in report["scenarios"]] == ["complete_failure"]
    item = report["scenarios"][0]
    assert item["hosts"] == every and item["command"] == next_command("remediate_complete_failure.yml")
    assert any(line["source"] == "mistral" and "unreachable" in line["detail"] for line in item["evidence"])


def test_a_host_down_among_healthy_ones_without_prometheus(clean_lab, diagnose):
    lab = clean_lab
    down = names(lab, 6)
    lab.cli("fault", "service_down", "--hosts", down[0])
    wait_until(lambda: lab.health(lab.hosts[6])[1].get("status") == "unreachable", SHOW_S, what="the service killed")
    # Prometheus absent: the diagnosis goes on from /health, logs and Mistral, and says so.
    report = diagnose_both(diagnose, agents=False, extravars={"model_ops_prometheus_url": ""})
    assert [s["scenario"] for s in report["scenarios"]] == ["complete_failure"]
    item = report["scenarios"][0]
    assert item["hosts"] == down
    assert item["command"] == next_command("remediate_complete_failure.yml", "--limit", down[0])
    assert report["hosts"][down[0]]["status"] == "unreachable"
    assert sum(1 for h in report["hosts"].values() if h["status"] == "ok") == len(lab.hosts) - 1
    assert "prometheus_unavailable" in supporting(report)


def test_prometheus_rates_ride_along_when_prometheus_answers(clean_lab, diagnose):
    lab = clean_lab
    # errors on one host (rate limited), until Prometheus has their rate: the verdict's run reads that rate
    limited = lab.hosts[1].name
    lab.cli("fault", "rate_limit", "--hosts", limited, "--retry-after", "7")
    query = urllib.parse.urlencode({"query": DEFAULT_QUERY})
    url = "http://%s/api/v1/query?%s" % (prometheus_address(int(os.environ["GENESIS_LAB_NET"])), query)

    def rated():
        with urllib.request.urlopen(url, timeout=10) as answer:
            samples = json.load(answer)["data"]["result"]
        return {s["metric"].get("agent") for s in samples if s["metric"].get("instance") == limited and float(s["value"][1]) > 0}
    wait_until(lambda: rated() == set(AGENTS), 120, what="a rate of errors for every agent of %s in Prometheus" % limited)
    run, report = diagnose("controller")
    assert "prometheus_unavailable" not in supporting(report)
    (answer,) = run.task("Read the error rate from Prometheus, when there is one").values()
    assert answer["available"] is True and set(answer["by_label"]) <= {host.name for host in lab.hosts}, answer["by_label"]
    rates = answer["by_label"][limited]
    assert sorted(rates) == sorted(AGENTS) and all(isinstance(r, float) and r > 0 for r in rates.values()), rates
    # and a Prometheus that is set but does not answer is a supporting finding, not a failed run
    _, report = diagnose("controller", extravars={"model_ops_prometheus_url": "http://127.0.0.1:9"})
    assert report["verdict"] == "rate_limit" and "prometheus_unavailable" in supporting(report)
    assert len(report["hosts"]) == len(lab.hosts)
