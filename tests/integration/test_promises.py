# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's promises for every changing playbook, not only rollback.yml: a host that does not come back
after its change gets its file back (bytes, owner, mode) and is restarted, the wave stops there and the run report
says so; a host another run holds is not touched, by any playbook, while that run really holds it. For real,
over SSH against the lab, each scenario's own incident injected first (docs/dev/testing.md: the matrix)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import types

import pytest

from tests.conftest import ROOT, wait_until
from tests.integration.test_awx_jobs import awx_job, survey_vars
from tests.integration.test_config_editors import read
from tests.integration.test_diagnose import controller_calls
from tests.integration.test_rollback import (  # noqa: F401 (fixtures)  pylint: disable=unused-import
    assert_key_shown_nowhere, audit, fleet, lab_keys, play, snapshot)

SERVICE_USER = 65534  # nobody: a file the service user owns, not root

# playbook: (the incident: lab fault arguments, the status the hosts show with it), the extra vars its command
# takes, the file its change edits (a host attribute)
SCENARIOS = {
    "remediate_credentials.yml": (("credentials",), "down", {"mistral_api_key": "<spare>"}, "env_file"),
    "remediate_rate_limit.yml": (("rate_limit", "--retry-after", "2"), "degraded", {"pct": 0}, "config"),
    # a model gone is gone for every caller (the controller's check too): not limited to the two hosts
    "remediate_model_unavailable.yml": (("model_unavailable", "--agents", "qa_agent"), "degraded", {}, "config"),
    "remediate_complete_failure.yml": (("service_down",), "unreachable", {}, "config"),
    # remediate.yml as an AWX job (its survey's answers): it diagnoses the rate limit and runs that playbook
    "remediate.yml": (("rate_limit", "--retry-after", "2"), "degraded", {"pct": 0}, "config"),
}

# The Mistral API calls a run makes from the controller: the new key's check (credentials), the key's (rate_limit:
# is the whole key limited), the key, the five fine-tuned and the three baseline ids once each (model_unavailable),
# none (complete_failure: the hosts' own calls tell), remediate.yml's diagnosis (9) and the rate-limit run's (1)
API_CALLS = {"remediate_credentials.yml": 1, "remediate_rate_limit.yml": 1, "remediate_model_unavailable.yml": 9,
             "remediate_complete_failure.yml": 0, "remediate.yml": 10}


def extravars_for(lab, playbook, **more):
    wanted = dict(SCENARIOS[playbook][2], **more)
    if wanted.get("mistral_api_key") == "<spare>":
        wanted["mistral_api_key"] = lab_keys(lab)["spare"]
    return wanted


def run(lab, play, tmp_path, playbook, limit, **more):
    """playbook on limit as its users run it: the scenario playbooks from a terminal (ansible-runner), remediate.yml
    as an AWX job with its survey; (rc, stdout, a result assert_key_shown_nowhere reads, the report folder)."""
    if playbook == "remediate.yml":
        answers = survey_vars("remediate", {"max_hosts": 10, "dry_run": "false", "pct": 0})
        runner, events, _artifacts = awx_job(lab, tmp_path, playbook, dict(answers, **more), limit=limit,
                                             job_id=4700 + len(os.listdir(tmp_path)))
        stdout = runner.stdout.read()
        return runner.rc, stdout, types.SimpleNamespace(stdout=stdout, events=events), tmp_path / "reports"
    result = play(dict(extravars_for(lab, playbook), model_ops_report_dir=str(tmp_path / "run"), **more),
                  playbook=os.path.join(ROOT, playbook), limit=limit)
    return result.rc, result.stdout, result, tmp_path / "run"


@pytest.fixture
def owned(fleet):
    """Every host's config and env file owned by the service user (0640, 0600) for the test; root's again after."""
    modes = {}
    for host in fleet.hosts:
        for path, mode in ((host.config, 0o640), (host.env_file, 0o600)):
            st = os.stat(path)
            modes[str(path)] = (st.st_uid, st.st_gid, st.st_mode & 0o7777)
            os.chown(path, SERVICE_USER, SERVICE_USER)
            os.chmod(path, mode)
    yield fleet
    for path, (uid, gid, mode) in modes.items():
        os.chown(path, uid, gid)
        os.chmod(path, mode)


def incident(lab, playbook, hosts):
    fault, status, _extravars, _attr = SCENARIOS[playbook]
    names = ",".join(h.name for h in hosts)
    lab.cli("fault", *fault, *(() if fault[0] == "model_unavailable" else ("--hosts", names)))
    lab.cli("wait", "--hosts", names, "--status", status, "--timeout", "40")


def files_of(host):
    """(bytes, owner, group, mode) of the config and the env file: what a restore must give back."""
    out = {}
    for path in (host.config, host.env_file):
        st = os.stat(path)
        out[os.path.basename(str(path))] = (read(path), st.st_uid, st.st_gid, st.st_mode & 0o7777)
    return out


@pytest.mark.parametrize("playbook", sorted(SCENARIOS))
def test_a_host_that_does_not_come_back_gets_its_file_back_and_the_wave_stops(owned, play, tmp_path, playbook):
    """The first host of a two-host run does not start after its change (lab fault start_failure, once): its file is
    put back with its owner and mode, it is started again on it, the wave stops, the second host is never touched,
    the run report says where and why; no key shows in any output, event, report or audit line."""
    lab = owned
    first, second = lab.hosts[2], lab.hosts[3]
    incident(lab, playbook, [first, second])
    lab.cli("fault", "start_failure", "--once", "--hosts", first.name)
    before = {h.name: files_of(h) for h in (first, second)}
    pids = snapshot(lab)

    calls = controller_calls(lab)
    rc, stdout, result, reports = run(lab, play, tmp_path, playbook, "%s,%s" % (first.name, second.name),
                                      model_ops_serial=1)
    # the Mistral API called once per distinct key and model, whatever the number of hosts (the same counts on one
    # or eight hosts: test_remediate.py, test_remediate_unattended.py)
    assert controller_calls(lab) - calls == API_CALLS[playbook], stdout

    assert rc != 0, stdout
    assert "%s did not recover after the change" % first.name in stdout, stdout
    assert "Hosts after it in the wave are left untouched" in stdout
    # the first host: its files as they were (bytes, owner, mode), no temporary file left, started again, given back
    assert files_of(first) == before[first.name]
    for path in (first.config, first.env_file):
        assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith(".tmp")], os.listdir(os.path.dirname(path))
    assert first.pid() is not None and first.pid() != pids[first.name][1]
    assert not (first.fault_dir / "start_failure").exists()  # the one failed start happened
    wait_until(lambda: lab.health(first)[1].get("status") in ("ok", "degraded", "down"), 40, what="the host answering")
    assert not (first.app_root / "run" / "model_ops.lock").exists()
    entries = audit(first)
    attr = SCENARIOS[playbook][3]
    changed_file = os.path.realpath(str(getattr(first, attr)))
    assert len(entries) == 2 and {os.path.realpath(e["file"]) for e in entries} == {changed_file}, entries
    # the second host: never reached
    assert files_of(second) == before[second.name] and snapshot(lab)[second.name] == pids[second.name]
    assert audit(second) == [] and not (second.app_root / "run" / "model_ops.lock").exists()
    # the run report, written where the wave stopped: the first host failed, its file restored; the second not in it
    with open(reports / "remediation-latest.json", encoding="utf-8") as handle:
        report = json.load(handle)
    records = {r["host"]: r for r in report["records"]}
    assert second.name not in records, records
    record = records[first.name]
    assert record["failed"] and record["restart"]["restored"] == [str(getattr(first, attr))], record
    assert "cannot start: configuration check failed" in record["restart"]["failure"], record
    assert_key_shown_nowhere(lab, result, reports)
    if playbook == "remediate_credentials.yml":
        spare = lab_keys(lab)["spare"]
        texts = [stdout, json.dumps(result.events, default=str)] + [
            p.read_text(encoding="utf-8", errors="replace") for p in reports.rglob("*") if p.is_file()]
        assert not [t for t in texts if spare in t or spare[:10] in t or spare[-10:] in t]


def test_a_host_another_run_holds_is_touched_by_no_playbook(fleet, play, tmp_path):
    """While rollback.yml really holds a host (its change made, waiting for the host to come back), each of the other
    changing playbooks run on that host waits for the lock, then stops, naming the run that holds it: no file of the
    host changed by them, no restart, no audit line; the holder finishes as it would have alone."""
    lab = fleet
    held = lab.hosts[5]
    lock = held.app_root / "run" / "model_ops.lock"
    env_before, pid_before = read(held.env_file), held.pid()
    # its baselines dead: turning the fine-tuned models off makes every agent fail, so the holder waits
    lab.cli("fault", "retired_baseline", "--hosts", held.name)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        holder = pool.submit(play, {"use_finetuned": "false", "target": held.name, "rolling_restart_timeout": 240,
                                    "model_ops_report_dir": str(tmp_path / "holder")},
                             playbook=os.path.join(ROOT, "rollback.yml"))
        wait_until(lambda: lock.exists() or holder.done(), 120, what="the holder's lock")
        holding = json.loads(lock.read_text(encoding="utf-8"))
        assert holding["owner"].startswith("rollback.yml by "), holding
        # the host failing on its dead baselines before the others start: remediate.yml's diagnosis finds it so
        wait_until(lambda: lab.health(held)[1].get("status") == "down" or holder.done(), 60, what="the held host down")
        contenders = {playbook: pool.submit(run, lab, play, tmp_path / playbook, playbook, held.name,
                                            model_ops_lock_timeout=3, approve="credentials,rate_limit,model_unavailable,complete_failure")
                      for playbook in sorted(SCENARIOS) if not os.makedirs(tmp_path / playbook)}
        outcomes = {playbook: future.result() for playbook, future in contenders.items()}
        assert lock.exists() and json.loads(lock.read_text(encoding="utf-8"))["run_id"] == holding["run_id"]
        lab.cli("clear")  # the baselines back: the holder's host recovers, and the holder ends
        done = holder.result()
    for playbook, (rc, stdout, _result, _reports) in outcomes.items():
        assert rc != 0, (playbook, stdout)
        assert "%s is held by another run: run %s (rollback.yml by " % (lock, holding["run_id"]) in stdout, (playbook, stdout)
    assert done.rc == 0, done.stdout
    assert {e["playbook"] for e in audit(held)} == {"rollback.yml"}, audit(held)
    assert read(held.env_file) == env_before and held.pid() != pid_before
    assert not lock.exists()
