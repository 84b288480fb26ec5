# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's loop, for real, over SSH against the 8-host lab: inject a fault, diagnose, run the
command the diagnosis names (exactly as printed, --limit included), diagnose again: healthy.
"""

from __future__ import annotations

import glob
import json
import os
import shlex

import yaml

from lab import paths
from tests.conftest import ROOT, next_command, wait_until
from tests.integration.test_config_editors import leaked, read, shown_diff_lines
from tests.integration.test_diagnose import controller_calls
from tests.integration.test_rollback import (  # noqa: F401 (fixtures)  pylint: disable=unused-import
    assert_again_changes_nothing, assert_key_shown_nowhere, audit, fleet, play, snapshot)

DIAGNOSE = os.path.join(ROOT, "diagnose.yml")


def diagnose(play, tmp_path, name, probe="controller"):
    result = play({"model_ops_report_dir": str(tmp_path / name), "model_ops_probe": probe}, playbook=DIAGNOSE)
    assert result.rc == 0, result.stdout
    with open(glob.glob(str(tmp_path / name / "diagnosis-latest.json"))[0], encoding="utf-8") as handle:
        return json.load(handle)


def run_command(play, command, check=False, diff=False, extravars=None):
    """Run `ansible-playbook <playbook> [--limit hosts]` as a diagnosis printed it (plus extravars)."""
    words = shlex.split(command)
    assert words[0] == "ansible-playbook", command
    # the inventory it names is the one the fixture's runs use (next_command checks it is named when needed)
    limit = words[words.index("--limit") + 1] if "--limit" in words else None
    return play(extravars, playbook=os.path.join(ROOT, words[1]), limit=limit, check=check, diff=diff)


def models(host):
    with open(host.config, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["models"]


def test_rate_limit_on_two_hosts_fixed_by_the_command_the_diagnosis_names(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    limited = lab.hosts[:2]
    lab.cli("fault", "rate_limit", "--hosts", ",".join(h.name for h in limited), "--retry-after", "2")
    lab.cli("wait", "--hosts", ",".join(h.name for h in limited), "--status", "degraded", "--timeout", "40")
    report = diagnose(play, tmp_path, "before")
    assert report["verdict"] == "rate_limit"
    command = report["scenarios"][0]["command"]
    assert command == next_command("remediate_rate_limit.yml", "--limit", "genesis-001,genesis-002")

    before = snapshot(lab)
    checked = run_command(play, command, check=True, diff=True)  # the runbook's default: 5%
    assert checked.rc == 0, checked.stdout
    shown = shown_diff_lines(checked.stdout)
    assert sum(1 for sign, line in shown if sign == "+" and "rollout_percentage: 5 " in line) == 2, shown
    assert snapshot(lab) == before

    # 0%: the lab's 10-request health window cannot tell a 5% share of 429s from the 10% threshold
    calls = controller_calls(lab)
    result = run_command(play, command, extravars={"pct": 0, "model_ops_report_dir": str(tmp_path / "run")})
    assert result.rc == 0, result.stdout
    assert controller_calls(lab) - calls == 1  # the key's own check, once: as on one host
    assert_key_shown_nowhere(lab, result, tmp_path / "run")
    for host in lab.hosts:
        assert models(host)["rollout_percentage"] == (0 if host in limited else 100), host.name
        assert (snapshot(lab)[host.name][1] != before[host.name][1]) == (host in limited), host.name
        assert [e["scenario"] for e in audit(host)] == (["rate_limit"] if host in limited else [])
    # the same command again: nothing left to change
    assert_again_changes_nothing(lab, lambda: run_command(play, command, extravars={"pct": 0}))
    # the fault is still on: fewer requests hit it, and the hosts are healthy
    report = diagnose(play, tmp_path, "after", probe="host")
    assert (report["verdict"], report["scenarios"]) == ("healthy", []), report["scenarios"]
    # and the change shows as a recent change, read back from the hosts' audit logs
    changes = [item for item in report["supporting"] if item["code"] == "audited_change"]
    assert changes and sorted(changes[0]["hosts"]) == [h.name for h in limited], report["supporting"]
    assert "remediate_rate_limit.yml" in changes[0]["detail"]


def test_model_unavailable_puts_only_that_agent_on_its_baseline(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    lab.cli("fault", "model_unavailable", "--agents", "qa_agent")
    lab.cli("wait", "--status", "degraded", "--timeout", "40")
    report = diagnose(play, tmp_path, "before")
    assert report["verdict"] == "model_unavailable"
    command = report["scenarios"][0]["command"]
    assert command == next_command("remediate_model_unavailable.yml")

    # --check --diff: the exact change (qa_agent's use_finetuned) on every host; files and pids untouched
    before = snapshot(lab)
    checked = run_command(play, command, check=True, diff=True, extravars={"model_ops_serial": "100%"})  # one wave: quicker
    assert checked.rc == 0, checked.stdout
    shown = shown_diff_lines(checked.stdout)
    per_agent = "# optional per-agent override, default true"  # qa_agent's own switch, its comment kept
    assert sorted(set((sign, " ".join(line.split())) for sign, line in shown)) == [
        ("+", "use_finetuned: false " + per_agent), ("-", "use_finetuned: true " + per_agent)], shown
    assert len(shown) == 2 * len(lab.hosts), shown
    assert snapshot(lab) == before

    calls = controller_calls(lab)
    result = run_command(play, command, extravars={"model_ops_serial": "50%", "model_ops_report_dir": str(tmp_path / "run")})
    assert result.rc == 0, result.stdout  # two waves of 4
    assert controller_calls(lab) - calls == 1 + 5 + 3  # the key, each id once: as on two hosts (test_promises.py)
    assert_key_shown_nowhere(lab, result, tmp_path / "run")
    # one run report for the whole run, both waves: each host's change and restart
    with open(tmp_path / "run" / "remediation-latest.json", encoding="utf-8") as handle:
        run_report = json.load(handle)
    assert sorted(r["host"] for r in run_report["records"]) == [h.name for h in lab.hosts]
    assert all(r["restart"]["restarted"] and r["changes"][0]["key"] == "models.agents.qa_agent.use_finetuned"
               for r in run_report["records"]), run_report["records"]
    for host in lab.hosts:
        agents = models(host)["agents"]
        assert agents["qa_agent"]["use_finetuned"] is False
        assert all(agents[a].get("use_finetuned", True) is True for a in agents if a != "qa_agent"), host.name
        assert models(host)["use_finetuned"] is True and models(host)["rollout_percentage"] == 100
    # the same command again (the model still gone), on two of the hosts (quicker): their agents are on their baselines
    assert_again_changes_nothing(lab, lambda: play(None, playbook=os.path.join(ROOT, "remediate_model_unavailable.yml"),
                                                   limit=",".join(h.name for h in lab.hosts[:2])))
    wait_until(lambda: all(lab.health(h)[1].get("status") == "ok" for h in lab.hosts), 40, what="a healthy lab")
    report = diagnose(play, tmp_path, "after")
    assert (report["verdict"], report["scenarios"]) == ("healthy", []), report["scenarios"]
    assert "model_unavailable_mitigated" in [item["code"] for item in report["supporting"]]


def test_an_agent_without_a_live_baseline_is_left_alone_and_handed_over(fleet, play):  # noqa: F811
    lab = fleet
    bad = lab.hosts[2]
    # a model's existence is the API's, for every caller: the controller sees what the hosts see
    lab.cli("fault", "model_unavailable", "--agents", "legal_agent")
    lab.cli("fault", "retired_baseline", "--agents", "legal_agent")
    before = snapshot(lab)
    result = play(None, playbook=os.path.join(ROOT, "remediate_model_unavailable.yml"), limit=bad.name)
    assert result.rc != 0
    assert "legal_agent left unchanged: their fine-tuned model and their baseline are both gone" in result.stdout
    assert snapshot(lab) == before  # nothing changed, nothing restarted, on any host
    assert audit(bad) == []


def test_a_host_down_comes_back_on_its_baselines(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    down = lab.hosts[6]
    lab.cli("fault", "service_down", "--hosts", down.name)
    lab.cli("wait", "--hosts", down.name, "--status", "unreachable", "--timeout", "40")
    report = diagnose(play, tmp_path, "before")
    assert report["verdict"] == "complete_failure"
    command = report["scenarios"][0]["command"]
    assert command == next_command("remediate_complete_failure.yml", "--limit", down.name)
    before = snapshot(lab)
    # --check --diff: the global switch on that host only; it is neither started nor changed
    checked = run_command(play, command, check=True, diff=True)
    assert checked.rc == 0, checked.stdout
    shown = shown_diff_lines(checked.stdout)
    switch = "# global switch: false puts every agent on its baseline"
    assert [(sign, " ".join(line.split())) for sign, line in shown] == [
        ("-", "use_finetuned: true " + switch), ("+", "use_finetuned: false " + switch)], shown
    assert snapshot(lab) == before and down.pid() is None

    calls = controller_calls(lab)
    result = run_command(play, command, extravars={"model_ops_report_dir": str(tmp_path / "run")})
    assert result.rc == 0, result.stdout
    assert controller_calls(lab) - calls == 0  # the hosts' own calls tell: as on two hosts (test_promises.py)
    assert_key_shown_nowhere(lab, result, tmp_path / "run")
    assert models(down)["use_finetuned"] is False and down.pid()
    assert all(snapshot(lab)[h.name] == before[h.name] for h in lab.hosts if h is not down)
    # the same command again: the host is up on its baselines, nothing to start or change
    assert_again_changes_nothing(lab, lambda: run_command(play, command))
    report = diagnose(play, tmp_path, "after")
    assert (report["verdict"], report["scenarios"]) == ("healthy", []), report["scenarios"]


def test_with_the_api_gone_it_says_what_is_left_and_whom_to_call(fleet, play):  # noqa: F811
    lab = fleet
    bad = lab.hosts[4]
    lab.cli("fault", "complete_failure")
    lab.cli("wait", "--hosts", bad.name, "--status", "down", "--timeout", "40")
    result = play({"model_ops_verify_timeout": 5}, playbook=os.path.join(ROOT, "remediate_complete_failure.yml"), limit=bad.name)
    assert result.rc != 0
    assert "%s is still down on its baselines. Left: the Mistral API" % bad.name in result.stdout, result.stdout
    assert "Escalate to tier 2, the DevOps lead" in result.stdout
    assert models(bad)["use_finetuned"] is False  # the runbook's immediate step was taken


def test_credentials_on_one_host_fixed_with_a_new_key_checked_first(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    bad = lab.hosts[1]
    with open(paths.keys_file(lab.fleet.state), encoding="utf-8") as handle:
        spare = json.load(handle)["spare"]
    lab.cli("fault", "credentials", "--hosts", bad.name)  # the fleet key refused for this host
    lab.cli("wait", "--hosts", bad.name, "--status", "down", "--timeout", "40")
    report = diagnose(play, tmp_path, "before")
    assert report["verdict"] == "credentials"
    command = report["scenarios"][0]["command"]
    assert command == next_command("remediate_credentials.yml", "--limit", bad.name)
    playbook = os.path.join(ROOT, "remediate_credentials.yml")
    before = {h.name: (read(h.env_file), h.pid()) for h in lab.hosts}

    # a key the API refuses is refused before any host is touched
    wrong = "Wr0ng" + spare[5:][::-1]
    refused = play({"mistral_api_key": wrong}, playbook=playbook, limit=bad.name)
    assert refused.rc != 0 and "is not accepted by the Mistral API (401)" in refused.stdout, refused.stdout
    assert {h.name: (read(h.env_file), h.pid()) for h in lab.hosts} == before
    assert not leaked(refused, wrong)

    # --check --diff: which host, by fingerprint; nothing touched, no key shown
    checked = play({"mistral_api_key": spare}, playbook=playbook, limit=bad.name, check=True, diff=True)
    assert checked.rc == 0, checked.stdout
    assert "(would change)" in checked.stdout
    assert {h.name: (read(h.env_file), h.pid()) for h in lab.hosts} == before

    calls = controller_calls(lab)
    result = play({"mistral_api_key": spare}, playbook=playbook, limit=bad.name)
    assert result.rc == 0, result.stdout
    assert controller_calls(lab) - calls == 1  # the new key checked once: as on two hosts (test_promises.py)
    assert not leaked(result, spare) and not leaked(checked, spare)
    assert read(bad.env_file) == ("MISTRAL_API_KEY=%s\n" % spare).encode()
    assert oct(os.stat(bad.env_file).st_mode & 0o777) == "0o600"
    assert bad.pid() != before[bad.name][1]
    assert all((read(h.env_file), h.pid()) == before[h.name] for h in lab.hosts if h is not bad)
    entry = audit(bad)[-1]
    assert (entry["key"], entry["scenario"]) == ("MISTRAL_API_KEY", "credentials") and spare not in json.dumps(entry)
    # the same command again: the host holds that key already
    again = assert_again_changes_nothing(lab, lambda: play({"mistral_api_key": spare}, playbook=playbook, limit=bad.name))
    assert not leaked(again, spare)
    report = diagnose(play, tmp_path, "after")
    assert (report["verdict"], report["scenarios"]) == ("healthy", []), report["scenarios"]
