# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""diagnose.yml when incidents overlap, when a quota is shared by a few models, and with the runbook's
real-call checks, on the 8-host lab over SSH with the real Mistral simulator (the same harness as
test_diagnose.py: every report valid, no key shown, API calls as the simulator logged them).

Old evidence must not outvote live evidence: a scenario holds on what the hosts and the API show now;
the lines of an earlier incident stay in the report as context ("earlier in the window"), each with why
it decided nothing. A scenario names only the agents that show it.
"""

from __future__ import annotations

import datetime
import hashlib
import json

from lab import catalog
from tests.conftest import next_command, wait_until
from tests.integration.test_diagnose import (  # noqa: F401 (diagnose is a fixture)  pylint: disable=unused-import
    AGENTS, SHOW_S, diagnose, diagnose_both, fleet_key, names, outline, shows, supporting)

LIMITED = ["qa_agent", "support_agent"]


def stamp(when):
    """A time as the service stamps its log lines (contract section 6)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)


def earlier(report, host, why=None):
    """{(agent, detail)} of the report's earlier-in-the-window lines of a host (with that why, if given)."""
    return {(line["agent"], line["detail"]) for line in report["earlier"]
            if line["host"] == host and (why is None or line["why"].startswith(why))}


def markdown(run):
    return (run.report_dir / "diagnosis-latest.md").read_text(encoding="utf-8")


def test_a_fault_cleared_minutes_before_another_starts(clean_lab, diagnose):
    """A credentials incident on one host, 8 to 4 minutes ago, fixed by restarting the service; now two of its
    agents are rate limited. The old 401 lines are in the log (written into it as the service writes them, in
    time order, while it was stopped), inside the diagnosis's 15-minute window."""
    lab = clean_lab
    host = lab.hosts[2]
    lab.cli("fault", "service_down", "--hosts", host.name)
    wait_until(lambda: host.pid() is None, SHOW_S, what="the service stopped")
    now = datetime.datetime.now(datetime.timezone.utc)
    for agent in AGENTS:
        log = host.app_root / "logs" / "finetuning" / ("%s.log" % agent)
        lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
        model = catalog.LAB_AGENTS[agent]["finetuned"]
        old = ['%s ERROR agent=%s model=%s status=401 error="Unauthorized"\n' % (stamp(now - datetime.timedelta(seconds=seconds)), agent, model)
               for seconds in range(480, 240, -20)]
        log.write_text("".join(sorted(lines + old)), encoding="utf-8")  # each line starts with its time
    lab.cli("restart", "--hosts", host.name)  # the fix of the earlier incident
    lab.cli("fault", "rate_limit", "--hosts", host.name, "--agents", ",".join(LIMITED))
    wait_until(shows(lab, {host.name: "degraded"}), SHOW_S, what="the rate limit on its host")

    report = diagnose_both(diagnose)
    assert [item["scenario"] for item in report["scenarios"]] == ["rate_limit"]  # not credentials
    item = report["scenarios"][0]
    assert item["hosts"] == [host.name] and item["agents"] == {host.name: LIMITED}
    assert item["command"] == next_command("remediate_rate_limit.yml", "--limit", host.name)
    started = report["hosts"][host.name]["started_at"]
    assert started and started > stamp(now)[:19]
    # the earlier incident is context: every agent's 401s, from before the service's current start
    context = earlier(report, host.name, "before the service started at %s" % started)
    assert {agent for agent, detail in context if detail.endswith("auth (401/403/unauthorized) lines in 15 min")} == set(AGENTS)
    assert all(line["at"] < started for line in report["earlier"] if line["host"] == host.name)


def test_a_killed_service_whose_logs_hold_another_incident_while_its_key_authenticates_now(clean_lab, diagnose):
    lab = clean_lab
    host = lab.hosts[4]
    lab.cli("fault", "credentials", "--hosts", host.name)
    wait_until(shows(lab, {host.name: "down"}), SHOW_S, what="the key refused on its host")
    lab.cli("clear")  # the key is accepted again: the incident is over
    wait_until(shows(lab, {host.name: "ok"}), SHOW_S, what="its host healthy again")
    lab.cli("fault", "service_down", "--hosts", host.name)
    wait_until(lambda: lab.health(host)[1].get("status") == "unreachable", SHOW_S, what="the service killed")

    run, report = diagnose("host")
    assert [item["scenario"] for item in report["scenarios"]] == ["complete_failure"]  # first, and not credentials
    item = report["scenarios"][0]
    assert item["hosts"] == [host.name] and item["agents"] == {host.name: AGENTS}
    assert item["command"] == next_command("remediate_complete_failure.yml", "--limit", host.name)
    assert any(line["source"] == "host" and "which is not running" in line["detail"] for line in item["evidence"])
    fingerprint = hashlib.sha256(fleet_key(lab).encode()).hexdigest()[:8]
    assert report["mistral"]["keys"][fingerprint]["authenticated"] is True
    # the 401s of the earlier incident: context, because the service does not answer
    context = earlier(report, host.name, "the service does not answer now")
    assert {agent for agent, detail in context if detail.startswith("log: ") and "auth (401/403/unauthorized)" in detail} == set(AGENTS)
    text = markdown(run)
    assert "## Earlier in the window" in text and "auth (401/403/unauthorized) lines" in text
    # from the controller (no log read): the same verdict and hosts
    _, checked = diagnose("controller", check=True)
    assert outline(checked, agents=False) == outline(report, agents=False)


def test_a_quota_shared_by_two_models_names_only_their_agents_and_the_key_at_risk(clean_lab, diagnose):
    lab = clean_lab
    lab.cli("fault", "rate_limit", "--agents", ",".join(LIMITED))
    every = [h.name for h in lab.hosts]
    wait_until(shows(lab, dict.fromkeys(every, "degraded")), SHOW_S, what="two agents falling back everywhere")
    report = diagnose_both(diagnose)
    assert [item["scenario"] for item in report["scenarios"]] == ["rate_limit"]
    item = report["scenarios"][0]
    assert item["hosts"] == every and item["agents"] == dict.fromkeys(every, LIMITED)  # not all five
    assert item["command"] == next_command("remediate_rate_limit.yml")
    fingerprint = hashlib.sha256(fleet_key(lab).encode()).hexdigest()[:8]
    at_risk = supporting(report)["key_rate_limited"]
    assert len(at_risk) == 1 and at_risk[0]["hosts"] == every
    assert at_risk[0]["detail"].startswith("key fingerprint %s rate limited (429s on the hosts for %s)" % (fingerprint, ", ".join(LIMITED)))
    assert "every agent on this key is at risk" in at_risk[0]["detail"]

    # The runbook's real-call checks, opt-in: a one-token chat with each baseline, the fallback path of a failing
    # call; the fine-tuned ids still retrieved. One call per id all the same; the quota figures in the report.
    run, live = diagnose("host", extravars={"model_ops_live_check": True})
    assert outline(live) == outline(report)
    models = live["mistral"]["models"]
    assert sorted(model for model, entry in models.items() if entry["probe"] == "chat") == sorted(catalog.LAB_BASELINES)
    assert all(entry["exists"] for entry in models.values())
    assert live["api_calls"] == 1 + len(models) == 9
    # each chat answer is 'ping' in, one word out: the simulator counts 1 + 1 tokens
    assert live["tokens_spent"] == 2 * len(catalog.LAB_BASELINES)
    quota = live["mistral"]["keys"][fingerprint]["quota"]
    assert quota["req-minute"]["limit"] == 60000 and 0 < quota["req-minute"]["remaining"] < 60000
    assert quota["tokens-minute"]["limit"] == 5000000
    assert all(models[baseline]["quota"]["tokens-minute"]["limit"] == 5000000 for baseline in catalog.LAB_BASELINES)
    text = markdown(run)
    assert "req-minute %d of 60000 left" % quota["req-minute"]["remaining"] in text
    assert "tokens spent: %d." % live["tokens_spent"] in text
    assert json.loads((run.report_dir / "diagnosis-latest.json").read_text(encoding="utf-8"))["tokens_spent"] == live["tokens_spent"]


def test_an_earlier_diagnosis_tells_when_each_agent_was_last_ok(clean_lab, diagnose):
    """A rate limit cleared, a diagnosis that finds the fleet healthy, then the service killed: its 429 lines are
    older than its agents' last healthy report and from a service that no longer answers."""
    lab = clean_lab
    host = lab.hosts[6]
    lab.cli("fault", "rate_limit", "--hosts", host.name, "--agents", "legal_agent")
    wait_until(shows(lab, {host.name: "degraded"}), SHOW_S, what="legal_agent rate limited")
    lab.cli("clear")
    wait_until(shows(lab, {host.name: "ok"}), SHOW_S, what="its host healthy again")
    first, healthy = diagnose("host")
    assert (healthy["verdict"], healthy["scenarios"]) == ("healthy", [])
    last_ok = healthy["hosts"][host.name]["agents"]["legal_agent"]["last_ok_at"]
    assert last_ok == healthy["generated_at"]
    assert any(agent == "legal_agent" and "rate-limit" in detail for agent, detail in earlier(healthy, host.name, "legal_agent is ok now"))
    lab.cli("fault", "service_down", "--hosts", host.name)
    wait_until(lambda: lab.health(host)[1].get("status") == "unreachable", SHOW_S, what="the service killed")
    _, report = diagnose("host", previous=first.report_dir)
    assert [item["scenario"] for item in report["scenarios"]] == ["complete_failure"]  # not rate_limit as well
    assert report["scenarios"][0]["hosts"] == [host.name]
    # carried over: the agent is not ok now, its last healthy report is the earlier diagnosis's
    assert report["hosts"][host.name]["agents"]["legal_agent"]["last_ok_at"] == last_ok
    assert any(agent == "legal_agent" and "rate-limit" in detail
               for agent, detail in earlier(report, host.name, "the service does not answer now"))
