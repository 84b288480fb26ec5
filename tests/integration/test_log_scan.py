# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""log_scan for real: ansible-playbook (through ansible-runner) over SSH on the 8-host lab, reading the
model-call logs the hosts' orchestrators write while the lab's faults hit them. Nothing is mocked.

The fault test scans a `minutes` window that starts after the last fault went in, so every line counted
was written under the faults: the affected hosts' categories grow, the host left alone counts nothing.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import string
import sys
import time

import pytest

from tests.conftest import wait_until

AGENTS = ["qa_agent", "support_agent", "legal_agent", "analyst_agent", "content_agent"]
CATEGORIES = ["errors", "rate_limit", "auth", "model_not_found", "server_error"]
FT_QA = "ft:ministral-8b-2512:587a6b29:20251014:7e773925"
SCAN = "log_scan/scan.yml"
WINDOW_S = 15  # seconds of faulty traffic the scan's window holds at least

# One fault per host, the last host left alone.
# (lab fault arguments, the category that grows, the `status=` of its lines, the agents it hits)
FAULTS = [
    (["credentials", "--status", "401"], "auth", "401", AGENTS),
    (["rate_limit"], "rate_limit", "429", AGENTS),
    (["model_unavailable", "--agents", "qa_agent"], "model_not_found", "400", ["qa_agent"]),
    (["server_error", "--status", "503"], "server_error", "503", AGENTS),
    (["hang"], "errors", "timeout", AGENTS),
    (["slow", "--delay", "5"], "errors", "timeout", AGENTS),  # past the hosts' 3 s timeout
    (["complete_failure"], "errors", "connect", AGENTS),
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


def assert_missing_dir(result, host):
    res = result.task("Scan a log directory that does not exist")[host.name]
    assert res["_event"] == "runner_on_ok" and res["changed"] is False  # a finding, not a failure
    assert [(f["code"], f["severity"]) for f in res["findings"]] == [("log_dir_missing", "warning")]
    assert res["findings"][0]["evidence"]["path"] == str(host.app_root / "no-such-logs" / "finetuning")
    assert (res["files"], res["lines_scanned"], res["counts"]) == ([], 0, dict.fromkeys(CATEGORIES, 0))


def test_secrets_never_show_at_vvvv(clean_lab, run):
    lab = clean_lab
    host = lab.hosts[0]
    key = "LsPlanted" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(23))
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)
    leaky = f'{stamp} ERROR agent=qa_agent model={FT_QA} status=401 error="Unauthorized: Authorization: Bearer {key} MISTRAL_API_KEY={key}"'
    # The key where the module reads fields too: by_agent and by_status are keyed by them.
    fields = f'{stamp} ERROR agent={key} model={FT_QA} status={key} error="request failed"'
    with open(host.app_root / "logs" / "finetuning" / "qa_agent.log", "a", encoding="utf-8") as log:
        log.write(leaky + "\n" + fields + "\n")

    result = run(SCAN, verbosity=4, limit=host.name, extravars={"scan_file": "qa_agent.log", "scan_minutes": 1})
    assert result.rc == 0, result.stdout
    assert "ESTABLISH SSH CONNECTION" in result.stdout  # really -vvvv, really over SSH
    assert_absent(result, key)

    res = result.task("Scan the model-call logs")[host.name]
    assert [f["path"] for f in res["files"]] == [str(host.app_root / "logs" / "finetuning" / "qa_agent.log")]
    # The planted lines were scanned and sampled, with the key masked.
    assert res["counts"]["auth"] >= 1
    assert res["samples"]["auth"][-1]["line"] == (
        f'{stamp} ERROR agent=qa_agent model={FT_QA} status=401 '
        f'error="Unauthorized: Authorization: Bearer ******** MISTRAL_API_KEY=********"')
    assert res["samples"]["errors"][-1]["line"] == (
        f'{stamp} ERROR agent=******** model={FT_QA} status=******** error="request failed"')
    assert res["by_agent"]["********"]["lines"] == 1 and res["by_status"]["********"] == 1
    assert FT_QA in json.dumps(res["samples"])  # a model id is no credential: it is kept
    assert_missing_dir(result, host)


def test_each_fault_grows_its_category_on_its_host_only(clean_lab, run):
    lab = clean_lab
    targets, bystander = lab.hosts[:len(FAULTS)], lab.hosts[len(FAULTS)]
    for host, (args, *_rest) in zip(targets, FAULTS):
        lab.cli("fault", *args, "--hosts", host.name)
    injected = time.monotonic()

    def logged():
        """Every agent a fault hits has logged an error of that fault."""
        pending = {}
        for host, (args, _category, status, agents) in zip(targets, FAULTS):
            body = lab.health(host)[1].get("agents", {})
            late = [a for a in agents if str((body.get(a, {}).get("last_error") or {}).get("status")) != status]
            if late:
                pending[host.name] = (args[0], late)
        return not pending or pending

    wait_until(logged, 30, what="every fault in its host's log")
    time.sleep(max(0.0, WINDOW_S - (time.monotonic() - injected)))
    # The window ends when the module runs, later than now: it starts after the last fault went in.
    minutes = (time.monotonic() - injected) / 60
    result = run(SCAN, extravars={"scan_minutes": minutes})
    assert result.rc == 0, result.stdout
    scans = result.task("Scan the model-call logs")

    for host, (args, category, status, agents) in zip(targets, FAULTS):
        res = scans[host.name]
        assert res["_event"] == "runner_on_ok" and res["findings"] == [], (args, res["findings"])
        assert res["window"]["minutes"] == pytest.approx(minutes)
        counts = res["counts"]
        assert counts[category] > 0 and counts["errors"] > 0, (args, counts)
        # only the fault's own category (and errors, which every failed call is) grew
        assert all(counts[c] == 0 for c in CATEGORIES if c not in (category, "errors")), (args, counts)
        assert status in res["by_status"], (args, res["by_status"])
        assert set(res["by_status"]) <= {status, "200"}, (args, res["by_status"])
        # every agent the fault hits shows it; the others none
        assert set(res["by_agent"]) == set(AGENTS)
        for agent, tally in res["by_agent"].items():
            assert tally["lines"] > 0
            if agent in agents:
                assert tally[category] > 0 and tally["errors"] > 0, (args, agent, tally)
            else:
                assert all(tally[c] == 0 for c in CATEGORIES), (args, agent, tally)
        # samples: the newest matching lines, each one of this fault's, from this host's logs
        for sample_category in {category, "errors"}:
            lines = res["samples"][sample_category]
            assert 1 <= len(lines) <= 3, (args, lines)
            for sample in lines:
                assert sample["file"].startswith(str(host.app_root / "logs" / "finetuning") + "/")
                assert " ERROR agent=" in sample["line"] and f" status={status} " in sample["line"], (args, sample)
            assert res["first_seen"][sample_category] >= res["window"]["since"]
            assert res["last_seen"][sample_category] >= res["first_seen"][sample_category]
        if status == "timeout":
            assert all('error="Request timed out"' in s["line"] for s in res["samples"]["errors"]), args

    calm = scans[bystander.name]
    assert calm["lines_scanned"] > 0 and calm["counts"] == dict.fromkeys(CATEGORIES, 0)
    assert list(calm["by_status"]) == ["200"] and calm["samples"] == {c: [] for c in CATEGORIES}
    assert calm["first_seen"] == dict.fromkeys(CATEGORIES) and calm["findings"] == []

    for host in lab.hosts:
        assert_missing_dir(result, host)
