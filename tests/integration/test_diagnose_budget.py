# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis's cost while the API fails: under each of the lab's API faults, diagnose.yml (per host, over
SSH, the real SDK against the simulator) calls the API at most once per key and distinct model id, the
simulator's request log agreeing call for call; no call is retried and no wait is spent on one; and the
API-check stage takes no longer than the healthy fleet's in the same test plus, at most, the configured API
timeout once (what a hanging key check costs). Wall-clock ratios of whole runs are in bench/diagnose_faults.py
and docs/performance.md: they flake on a shared machine, so no test asserts them.
"""

from __future__ import annotations

import time

import pytest

from lab import catalog
from tests.conftest import wait_until
from tests.integration.test_diagnose import (  # noqa: F401 (diagnose is a fixture)  pylint: disable=unused-import
    AGENTS, SHOW_S, controller_calls, diagnose, shows)

API_TIMEOUT_S = 10.0  # mistral_check's default timeout, which diagnose.yml keeps
MODELS = len(catalog.LAB_FINE_TUNED) + len(catalog.LAB_BASELINES)
NOT_CHECKED = {429: "not checked (API rate limited: HTTP 429)", 503: "not checked (API unavailable: HTTP 503)",
               "timeout": "not checked (API unreachable: timeout)", "connect": "not checked (API unreachable: connect)"}

# fault: (lab fault arguments, what the hosts' /health shows, verdict, command, API calls, why the models were not checked)
FAULTS = {
    "rate_limit_models": (["rate_limit"], "degraded", "rate_limit", "remediate_rate_limit.yml", 1 + MODELS, None),
    "rate_limit_key": (["rate_limit", "--quota", "key"], "down", "rate_limit", "remediate_rate_limit.yml", 1, 429),
    "server_error": (["server_error", "--status", "503"], "down", "complete_failure", "remediate_complete_failure.yml", 1, 503),
    # 2 s per answer: within the hosts' 3 s timeout, which a loaded machine may still overrun; their verdict is not the point
    "slow": (["slow", "--delay", "2"], None, None, None, 1 + MODELS, None),
    "hang": (["hang"], "down", "complete_failure", "remediate_complete_failure.yml", 1, "timeout"),
    "complete_failure": (["complete_failure"], "down", "complete_failure", "remediate_complete_failure.yml", 1, "connect"),
}


def key_check(report):
    (key,) = report["mistral"]["keys"].values()  # the lab's one key
    return key


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_api_budget_holds_under_the_fault(clean_lab, diagnose, fault):
    lab = clean_lab
    args, health, verdict, playbook, calls, not_checked = FAULTS[fault]
    _, healthy = diagnose("host")
    assert (healthy["verdict"], healthy["api_calls"], healthy["api_budget"]) == ("healthy", 1 + MODELS, 1 + MODELS)
    baseline_s = key_check(healthy)["elapsed_s"]

    lab.cli("fault", *args)
    every = [h.name for h in lab.hosts]
    if health:
        wait_until(shows(lab, dict.fromkeys(every, health), every_agent=health == "down"), SHOW_S, what="%s on every host" % fault)
    else:
        time.sleep(5)  # a few slow answers on the hosts: still within their timeout, so still ok
    before = controller_calls(lab)
    _, report = diagnose("host", calls_logged=fault != "hang")
    if fault == "hang":
        lab.clear()  # the simulator logs a hung call once it is released
        wait_until(lambda: controller_calls(lab) - before == report["api_calls"], 10, what="the hung call logged")

    # the verdict, hosts, agents and next command
    if verdict:
        assert report["verdict"] == verdict
    if playbook:
        assert [item["scenario"] for item in report["scenarios"]] == [verdict]
        item = report["scenarios"][0]
        assert item["hosts"] == every and item["agents"] == dict.fromkeys(every, AGENTS)
        assert item["command"] == "ansible-playbook %s" % playbook
    # the budget: once per key and distinct model id at most, exactly as many as the fault allows, none retried
    key = key_check(report)
    assert report["api_calls"] == calls == key["api_calls"] and report["api_budget"] == 1 + MODELS
    assert key["retry_wait_s"] == 0
    models = report["mistral"]["models"]
    if not_checked:
        assert {entry["message"] for entry in models.values()} == {NOT_CHECKED[not_checked]}
        assert not any(entry["checked"] for entry in models.values())
    else:
        assert all(entry["checked"] for entry in models.values())
    # the API-check stage: the healthy one's time, plus at most the configured timeout once
    assert key["elapsed_s"] <= baseline_s + API_TIMEOUT_S, (key["elapsed_s"], baseline_s)
    if fault == "hang":
        assert key["elapsed_s"] >= API_TIMEOUT_S  # it waited for the key check, and for nothing else
    if fault == "slow":
        assert key["elapsed_s"] >= 2 * 2  # the key check, then the models side by side: two answers' delay
    if fault == "rate_limit_key":
        assert key["rate_limited"] and key["quota"]["req-minute"] == {"limit": 60000, "remaining": 0}
        assert key["retry_after"] == 5
        assert [entry["code"] for entry in report["supporting"] if entry["code"] == "key_rate_limited"] == ["key_rate_limited"]
