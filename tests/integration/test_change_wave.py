# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change wave gives each host back whatever happens on it: a failed change, a failed restart, even a run
report that cannot be written. For real, through rollback.yml, over SSH against the lab."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_rollback import audit, fleet, play, snapshot  # noqa: F401 (fixtures)  pylint: disable=unused-import

RUNS = 3  # three hosts, three runs: each must be given back


def lock(host):
    return host.app_root / "run" / "model_ops.lock"


@pytest.mark.parametrize("attempt", range(RUNS))
def test_the_host_is_given_back_when_its_record_cannot_be_written(fleet, play, tmp_path, attempt):  # noqa: F811
    lab = fleet
    host = lab.hosts[attempt]
    # a folder where the host's record goes: writing the record fails, after the change and the restart
    (tmp_path / "runs" / "fault" / ("%s-rollback.json" % host.name)).mkdir(parents=True)
    result = play({"pct": 0, "target": host.name, "model_ops_run_id": "fault", "model_ops_report_dir": str(tmp_path)})
    assert result.rc != 0
    record = tmp_path / "runs" / "fault" / ("%s-rollback.json" % host.name)
    assert "cannot write the report file %s: Is a directory" % record in result.stdout, result.stdout
    assert [e["after"] for e in audit(host)] == [0]  # the change was made
    assert result.task("Give the host back")[host.name]["_event"] == "runner_on_ok"
    assert not lock(host).exists(), "%s is still held by the run" % host.name


def test_the_host_is_given_back_when_its_change_fails(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    host = lab.hosts[4]
    before = snapshot(lab)
    missing = str(host.app_root / "infrastructure" / "config" / "missing.yaml")
    result = play({"pct": 0, "target": host.name, "genesis_config_path": missing, "model_ops_report_dir": str(tmp_path)})
    assert result.rc != 0 and missing in result.stdout, result.stdout
    assert snapshot(lab) == before and not lock(host).exists()
    # the record says so, and the report was written where the wave stopped
    with open(tmp_path / "remediation-latest.json", encoding="utf-8") as handle:
        record = json.load(handle)["records"][0]
    assert (record["host"], record["failed"], record["changes"]) == (host.name, True, [])
