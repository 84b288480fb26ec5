# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis's cost while the API fails: under each of the lab's API faults, diagnose.yml (the real SDK against
the simulator) calls the API at most once per key and distinct model id, the simulator's request log agreeing call
for call; no call is retried and no wait is spent on one; the models a failing key check says cannot succeed are
not called, each saying why. The runs probe the hosts from the controller (the API stage is the same in either
mode; test_diagnose.py runs both): a short file. Wall-clock ratios are bench/diagnose_faults.py's: they flake on a
shared machine, so no test asserts them.
"""

from __future__ import annotations

import pytest

from lab import catalog
from tests.conftest import next_command, wait_until
from tests.integration.test_diagnose import (  # noqa: F401 (diagnose is a fixture)  pylint: disable=unused-import
    AGENTS, SHOW_S, controller_calls, diagnose, shows)

MODELS = len(catalog.LAB_FINE_TUNED) + len(catalog.LAB_BASELINES)
NOT_CHECKED = {429: "not checked (API rate limited: HTTP 429)", 503: "not checked (API unavailable: HTTP 503)",
               "timeout": "not checked (API unreachable: timeout)", "connect": "not checked (API unreachable: connect)"}

# fault: (lab fault arguments, what the hosts' /health shows, verdict, command, API calls, why the models were not checked)
FAULTS = {
    "rate_limit_models": (["rate_limit"], "degraded", "rate_limit", "remediate_rate_limit.yml", 1 + MODELS, None),
    "rate_limit_key": (["rate_limit", "--quota", "key"], "down", "rate_limit", "remediate_rate_limit.yml", 1, 429),
    "server_error": (["server_error", "--status", "503"], "down", "complete_failure", "remediate_complete_failure.yml", 1, 503),
    # 2 s per answer: within the hosts' 3 s timeout, so not shown on their /health; their verdict is not the point
    "slow": (["slow", "--delay", "2"], None, None, None, 1 + MODELS, None),
    "hang": (["hang"], "down", "complete_failure", "remediate_complete_failure.yml", 1, "timeout"),
    "complete_failure": (["complete_failure"], "down", "complete_failure", "remediate_complete_failure.yml", 1, "connect"),
}


# The Mistral stage's own time under the fault (the key entry's elapsed_s), the seconds the fault itself costs:
# mistral_check's timeout (10 s) once for a hang, two 2 s answers in a row when slow, nothing else. The slack is a
# loaded CI machine's time for the SDK's calls themselves; a retried 429 or 503 (2 s and more per retry, as before
# the budget) or a timeout per model (10 s each) goes past it.
API_TIMEOUT_S = 10
ELAPSED_S = {"rate_limit_models": 0, "rate_limit_key": 0, "server_error": 0, "slow": 2 * 2, "hang": API_TIMEOUT_S,
             "complete_failure": 0}
SLACK_S = 4


def key_check(report):
    (key,) = report["mistral"]["keys"].values()  # the lab's one key
    return key


def test_a_healthy_fleet_calls_once_per_key_and_model(clean_lab, diagnose):
    _, healthy = diagnose("controller", check=True)
    assert (healthy["verdict"], healthy["api_calls"], healthy["api_budget"]) == ("healthy", 1 + MODELS, 1 + MODELS)
    assert key_check(healthy)["elapsed_s"] <= SLACK_S
    assert key_check(healthy)["retry_wait_s"] == 0 and all(entry["checked"] for entry in healthy["mistral"]["models"].values())


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_api_budget_holds_under_the_fault(clean_lab, diagnose, fault):
    lab = clean_lab
    args, health, verdict, playbook, calls, not_checked = FAULTS[fault]
    lab.cli("fault", *args)
    every = [h.name for h in lab.hosts]
    if health:
        wait_until(shows(lab, dict.fromkeys(every, health), every_agent=health == "down"), SHOW_S, what="%s on every host" % fault)
    before = controller_calls(lab)
    _, report = diagnose("controller", check=True, calls_logged=fault != "hang")
    if fault == "hang":
        lab.clear()  # the simulator logs a hung call once it is released
        wait_until(lambda: controller_calls(lab) - before == report["api_calls"], 10, what="the hung call logged")

    # the verdict, hosts, agents and next command
    if playbook:
        assert [item["scenario"] for item in report["scenarios"]] == [verdict]
        item = report["scenarios"][0]
        assert item["hosts"] == every and item["agents"] == dict.fromkeys(every, AGENTS)
        assert item["command"] == next_command(playbook)
    # the budget: once per key and distinct model id at most, exactly as many as the fault allows, none retried
    key = key_check(report)
    assert report["api_calls"] == calls == key["api_calls"] and report["api_budget"] == 1 + MODELS
    assert key["retry_wait_s"] == 0
    # the time: the key check, then the model checks side by side, each call once: two answers' time at most (2 s
    # each when slow), one API timeout for a hang (the model checks are then not made); never a retry's wait
    assert key["elapsed_s"] <= ELAPSED_S[fault] + SLACK_S, (key["elapsed_s"], ELAPSED_S[fault])
    models = report["mistral"]["models"]
    if not_checked:
        assert {entry["message"] for entry in models.values()} == {NOT_CHECKED[not_checked]}
        assert not any(entry["checked"] for entry in models.values())
    else:
        assert all(entry["checked"] for entry in models.values())
    if fault == "rate_limit_key":
        assert key["rate_limited"] and key["quota"]["req-minute"] == {"limit": 60000, "remaining": 0}
        assert key["retry_after"] == 5
        assert [entry["code"] for entry in report["supporting"] if entry["code"] == "key_rate_limited"] == ["key_rate_limited"]
