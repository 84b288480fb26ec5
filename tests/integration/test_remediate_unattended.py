# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediate.yml, as CI and alerts run it: diagnose, run what the guardrails allow, diagnose again, and
say the outcome in a run report. For real, over SSH, against the 8-host lab."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import ROOT
from tests.integration.test_config_editors import shown_diff_lines
from tests.integration.test_remediate import models
from tests.integration.test_awx_jobs import fleet_key
from tests.integration.test_diagnose import controller_calls
from tests.integration.test_rollback import assert_again_changes_nothing, audit, fleet, play, snapshot  # noqa: F401 (fixtures)  pylint: disable=unused-import

REMEDIATE = os.path.join(ROOT, "remediate.yml")


def remediate(play, tmp_path, name, check=False, diff=False, **extravars):
    """Run remediate.yml with its reports in tmp_path/name; (result, run report or None)."""
    folder = tmp_path / name
    result = play(dict(extravars, model_ops_report_dir=str(folder)), playbook=REMEDIATE, check=check, diff=diff)
    path = folder / "remediation-latest.json"
    report = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    return result, report


def artifacts(result):
    """What set_stats handed to the next job (AWX, CI)."""
    stats = [e for e in result.events if e.get("event") == "playbook_on_stats"]
    return stats[-1]["event_data"].get("artifact_data") or {}


def plan(report):
    return {step["scenario"]: (step["decision"], step["hosts"]) for step in report["plan"]}


def test_rate_limit_is_remediated_on_its_own_with_a_run_report(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    limited = lab.hosts[2:4]
    lab.cli("fault", "rate_limit", "--hosts", ",".join(h.name for h in limited), "--retry-after", "2")
    lab.cli("wait", "--hosts", ",".join(h.name for h in limited), "--status", "degraded", "--timeout", "40")
    before = snapshot(lab)

    # pct=0: the lab's 10-request health window cannot tell a 5% share of 429s from the 10% threshold
    calls = controller_calls(lab)
    result, report = remediate(play, tmp_path, "run", pct=0)
    assert result.rc == 0, result.stdout
    # the diagnosis before and the one after (the key, five fine-tuned and three baseline ids, once each) and the
    # rate-limit run's key check, over eight hosts as over two (test_promises.py: 9 + 1, its run stops before the after)
    assert controller_calls(lab) - calls == 9 + 1 + 9
    assert report["outcome"] == "remediated", report
    assert (report["verdict_before"], report["verdict_after"]) == ("rate_limit", "healthy")
    assert plan(report) == {"rate_limit": ("run", [h.name for h in limited])}
    assert artifacts(result)["model_ops_outcome"] == "remediated"
    for host in lab.hosts:
        changed = host in limited
        assert models(host)["rollout_percentage"] == (0 if changed else 100), host.name
        assert (snapshot(lab)[host.name][1] != before[host.name][1]) == changed, host.name

    # the run report: per host the audit line, the restart, the health before and after, the time to healthy
    records = {r["host"]: r for r in report["records"]}
    assert sorted(records) == [h.name for h in limited] and report["changed_hosts"] == [h.name for h in limited]
    for host in limited:
        record = records[host.name]
        assert record["changes"] == [audit(host)[-1]]
        change = record["changes"][0]
        assert (change["key"], change["before"], change["after"], change["scenario"]) == (
            "models.rollout_percentage", 100, 0, "rate_limit")
        assert change["backup"] and os.path.exists(change["backup"])
        restart = record["restart"]
        assert restart["restarted"] and restart["old_pid"] == before[host.name][1] and restart["pid"] == host.pid()
        assert restart["status_before"] == "degraded" and restart["status_after"] in ("ok", "degraded")
        assert restart["agents_before"] and set(restart["agents_before"]) == set(restart["agents_after"])
        assert 0 < restart["seconds_to_healthy"] < record["seconds_from_run_start"] < 300
        assert not record["failed"]
    markdown = (tmp_path / "run" / "remediation-latest.md").read_text(encoding="utf-8")
    assert "**Outcome: remediated.**" in markdown and report["started_at"] < report["generated_at"]
    assert "| %s | remediate_rate_limit.yml | models.rollout_percentage: 100 -> 0 |" % limited[0].name in markdown

    # again, as the next schedule or alert would run it: the fleet is healthy, nothing to do, nothing changed
    again = assert_again_changes_nothing(lab, lambda: remediate(play, tmp_path, "again", pct=0)[0])
    assert artifacts(again)["model_ops_outcome"] == "healthy"


def ci_remediate(lab, tmp_path, name, *args):
    """examples/ci/remediate.sh as a pipeline runs it; (exit status, output, run report)."""
    folder = tmp_path / name
    env = dict(os.environ, MODEL_OPS_REPORT_DIR=str(folder), ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1",
               PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([os.path.join(ROOT, "examples", "ci", "remediate.sh"), "-i", lab.inventory, *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert fleet_key(lab) not in proc.stdout + proc.stderr
    with open(folder / "remediation-latest.json", encoding="utf-8") as handle:
        return proc.returncode, proc.stdout + proc.stderr, json.load(handle)


def test_complete_failure_waits_for_approval_then_runs_when_approved(fleet, tmp_path):  # noqa: F811
    lab = fleet
    down = lab.hosts[5]
    lab.cli("fault", "service_down", "--hosts", down.name)
    lab.cli("wait", "--hosts", down.name, "--status", "unreachable", "--timeout", "40")
    before = snapshot(lab)

    # unattended, as a pipeline runs it: held back for a person, exit 4, nothing touched
    code, out, report = ci_remediate(lab, tmp_path, "refused")
    assert code == 4, out
    assert report["outcome"] == "needs_approval"
    assert plan(report) == {"complete_failure": ("needs_approval", [down.name])}
    assert "runs only with -e approve=complete_failure" in out, out
    assert "model_ops outcome: needs_approval" in out
    assert snapshot(lab) == before and report["records"] == []  # nothing changed, nothing restarted
    assert all(audit(h) == [] for h in lab.hosts)

    # approved: the host comes back on its baselines, exit 3 (remediated), only that host touched
    code, out, report = ci_remediate(lab, tmp_path, "approved", "-e", "approve=complete_failure")
    assert code == 3, out
    assert report["outcome"] == "remediated" and report["verdict_after"] == "healthy"
    assert models(down)["use_finetuned"] is False and down.pid()
    assert all(snapshot(lab)[h.name] == before[h.name] for h in lab.hosts if h is not down)
    assert [e["scenario"] for e in audit(down)] == ["complete_failure"]


def test_the_host_cap_and_dry_run_change_nothing(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    limited = lab.hosts[:3]
    lab.cli("fault", "rate_limit", "--hosts", ",".join(h.name for h in limited), "--retry-after", "2")
    lab.cli("wait", "--hosts", ",".join(h.name for h in limited), "--status", "degraded", "--timeout", "40")
    before = snapshot(lab)

    # three hosts to change, two allowed: the scenario is held back as a whole
    result, report = remediate(play, tmp_path, "capped", max_hosts=2)
    assert result.rc != 0
    assert report["outcome"] == "needs_approval"
    assert plan(report) == {"rate_limit": ("over_host_cap", [h.name for h in limited])}
    assert "3 more hosts would take the run over max_hosts=2" in result.stdout, result.stdout
    assert snapshot(lab) == before

    # dry_run: the plan runs in check mode; --diff shows each change; nothing is touched
    result, report = remediate(play, tmp_path, "dry", diff=True, dry_run="true")
    assert result.rc == 0, result.stdout
    assert report["outcome"] == "dry_run" and report["check_mode"] is True
    assert plan(report) == {"rate_limit": ("run", [h.name for h in limited])}
    shown = shown_diff_lines(result.stdout)
    assert sum(1 for sign, line in shown if sign == "+" and "rollout_percentage: 5 " in line) == 3, shown
    records = {r["host"]: r for r in report["records"]}
    assert sorted(records) == [h.name for h in limited]
    assert all(r["changes"][0]["would_change"] and r["restart"]["would_restart"] for r in records.values())
    assert snapshot(lab) == before and all(audit(h) == [] for h in lab.hosts)

    # bad guardrails: refused before the diagnosis, naming the value and what is allowed
    result, _ = remediate(play, tmp_path, "bad", approve="everything", max_hosts=0)
    assert result.rc != 0
    assert "approve=everything" in result.stdout and "allowed: credentials, rate_limit, model_unavailable, complete_failure" in result.stdout
    assert "max_hosts=0 (an integer from 1)" in result.stdout
    assert "Diagnose model failures" not in result.stdout
    assert snapshot(lab) == before
