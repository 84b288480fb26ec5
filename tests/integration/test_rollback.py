# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rollback.yml and the rolling_restart role for real: ansible-playbook over SSH against the lab,
services restarted through their pid files, health verified, a host that gets worse put back.

Runs on the first 5 of the lab's 8 hosts (`-e target=genesis[0:4]`): the 3 others must stay untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest

from lab import paths
from tests.conftest import wait_until
from tests.integration.test_config_editors import ROLLOUT_LINE, GLOBAL_LINE, leaked, listing, read, write, shown_diff_lines

PLAYBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "rollback.yml")
FIVE = "genesis[0:4]"
SERVICE_USER = 65534  # nobody: a config the service user owns, not root


@pytest.fixture
def play(clean_lab, play):  # pylint: disable=redefined-outer-name
    """run rollback.yml (or another playbook); the fleet key must show nowhere."""
    with open(paths.keys_file(clean_lab.fleet.state), encoding="utf-8") as handle:
        key = json.load(handle)["fleet"]

    def go(extravars=None, playbook=PLAYBOOK, **kwargs):
        result = play(playbook, extravars=extravars, **kwargs)
        assert not leaked(result, key), "the fleet key leaked"
        return result
    return go


@pytest.fixture
def fleet(clean_lab):
    """The lab with every host's config put back, backups removed, and changed hosts restarted, afterwards."""
    lab = clean_lab
    saved = {h.name: (read(h.config), listing(str(h.config))) for h in lab.hosts}
    envs = {h.name: (read(h.env_file), listing(str(h.env_file)), os.stat(h.env_file).st_mode) for h in lab.hosts}
    yield lab
    changed = []
    for host in lab.hosts:
        data, names, mode = envs[host.name]
        if read(host.env_file) != data:
            write(host.env_file, data)
            changed.append(host.name)
        os.chmod(host.env_file, mode)
        for name in set(listing(str(host.env_file))) - set(names):
            os.unlink(os.path.join(os.path.dirname(host.env_file), name))
        data, names = saved[host.name]
        if read(host.config) != data:
            write(host.config, data)
            changed.append(host.name)
        for name in set(listing(str(host.config))) - set(names):
            os.unlink(os.path.join(os.path.dirname(host.config), name))
        (host.app_root / "logs" / "model_ops_audit.jsonl").unlink(missing_ok=True)
    lab.cli("clear")
    if changed:
        lab.cli("restart", "--hosts", ",".join(sorted(set(changed))))


def audit(host):
    """The audit log's entries on a lab host."""
    path = host.app_root / "logs" / "model_ops_audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def lab_keys(lab):
    """The lab's keys: {"fleet": the one every host's env file holds, "spare": another the API accepts}."""
    with open(paths.keys_file(lab.fleet.state), encoding="utf-8") as handle:
        return json.load(handle)


def fleet_key(lab):
    """The lab's fleet key, the one every host's env file holds."""
    return lab_keys(lab)["fleet"]


def assert_key_shown_nowhere(lab, result, *report_dirs):
    """The fleet key (nor its first or last 10 characters) in no line the run printed, no event, no file of its
    report folders (run reports, host records) and no line of any host's audit log."""
    key = fleet_key(lab)
    texts = {"stdout": result.stdout, "events": json.dumps(result.events, default=str)}
    for folder in report_dirs:
        found = [os.path.join(base, name) for base, _dirs, files in os.walk(str(folder)) for name in files]
        assert found, "%s holds no report" % folder
        for path in found:
            with open(path, encoding="utf-8", errors="replace") as handle:
                texts[path] = handle.read()
    for host in lab.hosts:
        path = host.app_root / "logs" / "model_ops_audit.jsonl"
        texts[str(path)] = path.read_text(encoding="utf-8") if path.exists() else ""
    leaks = [name for name, text in texts.items() if any(part in text for part in (key, key[:10], key[-10:]))]
    assert leaks == [], leaks


def assert_again_changes_nothing(lab, rerun):
    """rerun() (the same command once more, after it did its work): it ends well and changes nothing anywhere, no
    task changed, no file, no pid, no audit line; its result."""
    before = snapshot(lab)
    lines = {h.name: len(audit(h)) for h in lab.hosts}
    again = rerun()
    assert again.rc == 0, again.stdout
    assert stats(again, "changed") == {}, again.stdout
    assert snapshot(lab) == before
    assert {h.name: len(audit(h)) for h in lab.hosts} == lines
    return again


def backup_names(host):
    return [n for n in os.listdir(os.path.dirname(host.config)) if n.endswith(".bak")]


def snapshot(lab):
    return {h.name: (read(h.config), h.pid()) for h in lab.hosts}


def stats(result, what):
    return {host: count for host, count in (result.stats.get(what) or {}).items() if count}


def test_rollback_to_zero_percent_on_five_hosts(fleet, play, tmp_path):
    lab = fleet
    five, others = lab.hosts[:5], lab.hosts[5:]
    before = snapshot(lab)
    kept = {h.name: set(backup_names(h)) for h in five}  # another test's backups, if one left any

    # --check --diff: the exact diff on each of the five hosts, and nothing touched
    checked = play({"pct": 0, "target": FIVE, "model_ops_serial": 5}, check=True, diff=True)  # one wave: quicker
    assert checked.rc == 0, checked.stdout
    shown = shown_diff_lines(checked.stdout)
    old, new = ROLLOUT_LINE.rstrip("\n"), ROLLOUT_LINE.replace(": 100 ", ": 0 ").rstrip("\n")
    assert shown.count(("-", old)) == 5 and shown.count(("+", new)) == 5, shown
    assert snapshot(lab) == before and all(audit(host) == [] for host in lab.hosts)
    would = checked.task("Restart genesis-orchestrator")
    assert sorted(would) == [h.name for h in five] and all(r["changed"] for r in would.values())

    # for real: each of the five edited (only that line), restarted once, healthy; the others untouched
    result = play({"pct": 0, "target": FIVE, "model_ops_report_dir": str(tmp_path / "run")})
    assert result.rc == 0, result.stdout
    assert_key_shown_nowhere(lab, result, tmp_path / "run")
    after = snapshot(lab)
    for host in five:
        data, pid = after[host.name]
        assert data == before[host.name][0].replace(ROLLOUT_LINE.encode(), ROLLOUT_LINE.replace(": 100 ", ": 0 ").encode())
        assert pid and pid != before[host.name][1], host.name
        assert lab.health(host)[1]["status"] == "ok"
        assert lab.health(host)[1]["config"]["rollout_percentage"] == 0
        backups = sorted(set(backup_names(host)) - kept[host.name])
        assert len(backups) == 1, backups
        # one audit line on the host, naming the change and its backup
        entries = audit(host)
        assert len(entries) == 1, entries
        assert {k: entries[0][k] for k in ("playbook", "file", "key", "before", "after", "backup")} == {
            "playbook": "rollback.yml", "file": str(host.config), "key": "models.rollout_percentage", "before": 100,
            "after": 0, "backup": os.path.join(os.path.dirname(host.config), backups[0])}
    for host in others:
        assert after[host.name] == before[host.name]
    restarted = result.task("Restart genesis-orchestrator")
    assert sorted(restarted) == [h.name for h in five]
    assert all(r["old_pid"] == before[h][1] and r["pid"] == after[h][1] for h, r in restarted.items())

    # again: nothing to change, nothing restarted
    again = play({"pct": 0, "target": FIVE, "model_ops_serial": 5})  # one wave: quicker
    assert again.rc == 0, again.stdout
    assert stats(again, "changed") == {}
    assert snapshot(lab) == after
    assert all(len(audit(host)) == 1 for host in five)
    assert all(audit(host) == [] for host in others)
    assert {r["_event"] for r in again.task("Restart genesis-orchestrator").values()} == {"runner_on_skipped"}
    assert not any((h.app_root / "run" / "model_ops.lock").exists() for h in lab.hosts)  # every host given back


def test_a_host_held_by_another_run_is_not_touched(fleet, play):
    lab = fleet
    held = lab.hosts[0]
    lock = held.app_root / "run" / "model_ops.lock"
    lock.write_text(json.dumps({"run_id": "other-run", "owner": "remediate_rate_limit.yml by someone", "at": time.time(),
                                "expires": time.time() + 600}), encoding="utf-8")
    try:
        before = snapshot(lab)
        result = play({"pct": 0, "target": held.name, "model_ops_lock_timeout": 2})
        assert result.rc != 0
        assert "is held by another run: run other-run (remediate_rate_limit.yml by someone)" in result.stdout, result.stdout
        assert snapshot(lab) == before and audit(held) == []
    finally:
        lock.unlink()


@pytest.mark.parametrize("extravars,message", [
    ({}, "usage: ansible-playbook rollback.yml -e pct=0"),
    ({"pct": 150}, "pct=150 is not allowed: give an integer from 0 to 100"),
    ({"pct": "abc"}, "pct=abc is not allowed: give an integer from 0 to 100"),
    ({"use_finetuned": "maybe"}, "use_finetuned=maybe is not allowed: give true or false"),
])
def test_bad_input_is_refused_before_any_host_is_touched(fleet, play, extravars, message):
    before = snapshot(fleet)
    result = play(dict(extravars, target=FIVE))
    assert result.rc != 0 and message in result.stdout, result.stdout
    assert snapshot(fleet) == before


@pytest.fixture
def linked_config(fleet):
    """genesis-002's production.yaml a symbolic link to a file in another folder, owned by a non-root user, 0640."""
    host = fleet.hosts[1]
    site = host.app_root / "site-config"
    site.mkdir()
    target = site / "production.yaml"
    os.rename(host.config, target)
    os.chown(target, SERVICE_USER, SERVICE_USER)
    os.chmod(target, 0o640)
    os.symlink(target, host.config)
    yield str(target)
    os.unlink(host.config)
    os.rename(target, host.config)
    os.chown(host.config, 0, 0)
    shutil.rmtree(site)


def test_a_host_that_gets_worse_is_put_back_and_the_wave_stops(fleet, play, linked_config):
    lab = fleet
    first, bad, untouched = lab.hosts[0], lab.hosts[1], lab.hosts[2]
    # genesis-002's baselines are dead: turning its fine-tuned models off makes every agent fail
    lab.cli("fault", "retired_baseline", "--hosts", bad.name)
    before = snapshot(lab)
    result = play({"use_finetuned": "false", "target": "genesis[0:2]", "rolling_restart_timeout": 20})
    assert result.rc != 0
    # its file back through the link, with its owner and mode, and no temporary file beside it
    st = os.stat(linked_config)
    assert os.readlink(bad.config) == linked_config and read(linked_config) == before[bad.name][0]
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (SERVICE_USER, SERVICE_USER, 0o640)
    assert not [name for name in os.listdir(os.path.dirname(linked_config)) if name.endswith(".tmp")]
    assert not (bad.app_root / "run" / "model_ops.lock").exists()  # given back
    assert "%s did not recover after the change" % bad.name in result.stdout, result.stdout
    after = snapshot(lab)
    # the first host: changed and restarted, healthy on its baselines
    assert after[first.name][0] == before[first.name][0].replace(GLOBAL_LINE.encode(), GLOBAL_LINE.replace(": true ", ": false ").encode())
    assert after[first.name][1] != before[first.name][1]
    # the bad host: its file back as it was, restarted again, healthy on its fine-tuned models
    assert after[bad.name][0] == before[bad.name][0]
    assert after[bad.name][1] not in (None, before[bad.name][1])
    wait_until(lambda: lab.health(bad)[1].get("status") == "ok", 40, what="the restored host healthy")
    assert lab.health(bad)[1]["config"]["use_finetuned"] is True
    # the host after it in the wave: untouched
    assert after[untouched.name] == before[untouched.name]
    assert untouched.name not in result.results.get("Turn the fine-tuned models on or off (Option 1)", {})

    # progress: each host says which of the run it is (genesis[0:2] is three hosts; the third is never reached); the
    # wait on the bad host speaks while it waits (a FAILED - RETRYING line after each 8 s step, in the stdout AWX
    # shows), saying with -v what it waits for
    said = result.task("Say which host of the run this is and what it is about to do")
    assert said[first.name]["msg"].startswith("host 1 of 3 (this wave: %s): rollback change, then" % first.name), said
    assert said[bad.name]["msg"].startswith("host 2 of 3 (this wave: %s): rollback change, then" % bad.name), said
    wait = "Wait until the host answers and no agent is worse than before (a line at least every 10 s while it waits)"
    steps = [event["event_data"] for event in result.events if event["event"] == "runner_retry"
             and event["event_data"]["task"] == wait]
    assert steps and {step["host"] for step in steps} == {bad.name}, steps
    assert all(step["res"]["waiting"] and "(was ok)" in step["res"]["msg"] for step in steps), steps
    assert re.search(r"FAILED - RETRYING: \[%s\]: (\S+ : )?%s \(\d+ retries left\)" % (bad.name, re.escape(wait)), result.stdout)
