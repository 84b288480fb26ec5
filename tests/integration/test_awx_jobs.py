# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jobs as AWX runs them: ansible-runner (AWX's engine) with a private data dir, the project's root
playbooks, the extra vars a survey sends (typed as AWX types them, plus AWX's own awx_* variables), a
Check job with Diff, and then what AWX keeps: the exit status, the set_stats artifacts, every job event,
and the artifact files, none of which may hold the key."""

from __future__ import annotations

import json
import os

import ansible_runner
import yaml

from tests.conftest import ROOT
from tests.integration.test_diagnose import controller_calls
from tests.integration.test_remediate import models
from tests.integration.test_rollback import audit, fleet, fleet_key, snapshot  # noqa: F401 (fixture)  pylint: disable=unused-import

SURVEYS = os.path.join(ROOT, "extensions", "awx", "surveys")


def survey_vars(name, answers):
    """Extra vars as AWX sends a survey's answers: each answer typed by its question (integer as int)."""
    with open(os.path.join(SURVEYS, name + ".yml"), encoding="utf-8") as handle:
        spec = {q["variable"]: q for q in yaml.safe_load(handle)["spec"]}
    out = {}
    for variable, answer in answers.items():
        question = spec[variable]  # a variable the survey does not ask is a test error
        if question["type"] == "integer":
            assert question.get("min", answer) <= answer <= question.get("max", answer), (variable, answer)
            out[variable] = int(answer)
        elif question["type"] == "multiplechoice":
            assert answer in question["choices"], (variable, answer)
            out[variable] = answer
        else:
            out[variable] = answer
    return out


def awx_job(lab, tmp_path, playbook, extravars, job_type="run", diff=False, job_id=4711, limit=None):
    """Run ``playbook`` from the project root as an AWX job; (runner, events, the artifact files' text)."""
    private = tmp_path / ("job-%d" % job_id)
    private.mkdir()
    extravars = dict(extravars, awx_job_id=job_id, awx_user_name="oncall-alice", awx_job_template_name="genesis " + playbook,
                     tower_job_id=job_id, model_ops_report_dir=str(tmp_path / "reports"))
    runner = ansible_runner.run(
        private_data_dir=str(private), project_dir=ROOT, playbook=playbook, inventory=lab.inventory, limit=limit,
        extravars=extravars, cmdline=" ".join((["--check"] if job_type == "check" else []) + (["--diff"] if diff else [])) or None,
        envvars={"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
                 "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", "")},
        quiet=True, ident=str(job_id))
    events = list(runner.events)
    texts = []
    for folder, _dirs, files in os.walk(private / "artifacts"):
        for name in files:
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
    return runner, events, "\n".join(texts)


def artifact_data(events):
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    return stats[-1]["event_data"].get("artifact_data") or {}


def assert_no_key(key, events, artifacts):
    for part in (key, key[:10], key[-10:]):
        assert part not in json.dumps(events), "the key shows in a job event"
        assert part not in artifacts, "the key shows in the job's artifacts"


def test_diagnose_job_with_its_survey(fleet, tmp_path):  # noqa: F811
    lab = fleet
    bad = lab.hosts[1]
    lab.cli("fault", "rate_limit", "--hosts", bad.name, "--retry-after", "2")
    lab.cli("wait", "--hosts", bad.name, "--status", "degraded", "--timeout", "40")
    answers = survey_vars("diagnose", {"model_ops_probe": "host"})
    calls = controller_calls(lab)
    runner, events, artifacts = awx_job(lab, tmp_path, "diagnose.yml", answers)
    assert (runner.status, runner.rc) == ("successful", 0)
    assert controller_calls(lab) - calls == 1 + 5 + 3  # the key, each id once, for the eight hosts
    data = artifact_data(events)
    assert data["model_ops_verdict"] == "rate_limit" and data["model_ops_scenarios"] == ["rate_limit"]
    with open(data["model_ops_report"], encoding="utf-8") as handle:
        assert json.load(handle)["hosts"][bad.name]["scenarios"] == ["rate_limit"]
    assert_no_key(fleet_key(lab), events, artifacts)

    # the schedule's job: fail_on=unhealthy makes an unhealthy fleet a failed job (AWX notifies)
    scheduled = survey_vars("diagnose", {"model_ops_probe": "host", "fail_on": "unhealthy"})
    runner, events, artifacts = awx_job(lab, tmp_path, "diagnose.yml", scheduled, job_id=4712)
    assert (runner.status, runner.rc) == ("failed", 2)
    assert artifact_data(events)["model_ops_verdict"] == "rate_limit"
    assert_no_key(fleet_key(lab), events, artifacts)


def test_rollback_job_check_then_run_with_its_survey(fleet, tmp_path):  # noqa: F811
    lab = fleet
    three = lab.hosts[:3]
    limit = ",".join(h.name for h in three)  # the job's limit, as AWX's "ask limit on launch" passes it
    before = snapshot(lab)
    answers = survey_vars("rollback", {"pct": 0})
    assert answers == {"pct": 0}

    # a Check job with Diff: the config diff of each host, nothing changed
    runner, events, artifacts = awx_job(lab, tmp_path, "rollback.yml", answers, job_type="check", diff=True, job_id=5001,
                                        limit=limit)
    assert (runner.status, runner.rc) == ("successful", 0)
    diffs = [e for e in events if e.get("event") == "runner_on_ok" and e["event_data"]["res"].get("diff")
             and e["event_data"]["task"] == "Set the rollout percentage (Option 2)"]
    assert sorted(e["event_data"]["host"] for e in diffs) == [h.name for h in three]
    assert snapshot(lab) == before
    assert_no_key(fleet_key(lab), events, artifacts)

    runner, events, artifacts = awx_job(lab, tmp_path, "rollback.yml", answers, job_id=5002, limit=limit)
    assert (runner.status, runner.rc) == ("successful", 0)
    for host in lab.hosts:
        assert models(host)["rollout_percentage"] == (0 if host in three else 100)
    for host in three:
        entry = audit(host)[-1]
        # the audit line names the AWX user and job
        assert (entry["playbook"], entry["user"], entry["job"], entry["before"], entry["after"]) == (
            "rollback.yml", "oncall-alice", 5002, 100, 0)
    with open(artifact_data(events)["model_ops_remediation_report"], encoding="utf-8") as handle:
        report = json.load(handle)
    assert sorted(report["changed_hosts"]) == [h.name for h in three] and report["job"] == 5002
    assert_no_key(fleet_key(lab), events, artifacts)

    # the same job again: nothing changed on any host, no task changed anything, no audit line
    after, lines = snapshot(lab), {h.name: len(audit(h)) for h in lab.hosts}
    runner, events, artifacts = awx_job(lab, tmp_path, "rollback.yml", answers, job_id=5004, limit=limit)
    assert (runner.status, runner.rc) == ("successful", 0)
    assert not any((runner.stats.get("changed") or {}).values()), runner.stats
    assert snapshot(lab) == after and {h.name: len(audit(h)) for h in lab.hosts} == lines

    # a survey answer out of range never reaches a host: the playbook refuses it too
    runner, events, _ = awx_job(lab, tmp_path, "rollback.yml", {"pct": 101}, job_id=5003, limit=limit)
    assert runner.rc != 0
    assert "pct=101 is not allowed: give an integer from 0 to 100" in runner.stdout.read()
