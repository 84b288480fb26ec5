# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""diagnose.yml checks the host contract's variables of the whole fleet once, before it reads any host: a bad value
is named with its hosts and what is allowed, in either mode, and nothing runs on a host and no report is written.
(The genesis role's own argument check ran on every host: a minute at 1,000 hosts; docs/performance.md.)"""

from __future__ import annotations

import os

import pytest
import yaml

from tests.conftest import ROOT

PLAYBOOK = os.path.join(ROOT, "diagnose.yml")


def inventory(tmp_path, bad_hosts, **bad):
    """Twelve local hosts that nothing answers for; ``bad`` set on ``bad_hosts``."""
    hosts = dict(("genesis-%03d" % i, dict(bad) if i in bad_hosts else {}) for i in range(1, 13))
    data = {"all": {"children": {"genesis": {"hosts": hosts, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": os.path.join(ROOT, ".venv", "bin", "python"),
        "genesis_health_url": "http://127.0.0.1:9", "genesis_prometheus_url": ""}}}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("probe", ["host", "controller"])
def test_a_bad_contract_value_is_named_with_its_hosts_before_any_host_is_read(play, tmp_path, probe):
    path = inventory(tmp_path, {2, 5, 7, 9, 11}, genesis_service_manager="sytemd")
    reports = tmp_path / "reports"
    result = play(PLAYBOOK, inventory=path, extravars={"model_ops_probe": probe, "model_ops_report_dir": str(reports),
                                                        "model_ops_lock_timeout": "soon"})
    assert result.rc != 0
    out = " ".join(result.stdout.split())
    assert ("value of genesis_service_manager must be one of: auto, systemd, process, got: sytemd "
            "(genesis-002, genesis-005, genesis-007 and 2 more)") in out, result.stdout[-3000:]
    # an -e value is every host's: one message naming them all, not twelve messages
    assert ("argument 'model_ops_lock_timeout' is of type str and we were unable to convert to int: \"'soon'\" cannot be "
            "converted to an int (genesis-001, genesis-002, genesis-003 and 9 more)") in out, result.stdout[-3000:]
    # checked once (one host ran the check), and nothing after it ran: no evidence read, no probe, no report
    check = result.task("Check the run's inputs, and every host's contract variables")
    assert len(check) == 1 and list(check.values())[0]["_event"] == "runner_on_failed", check
    ran = set(result.results)
    assert not ran & {"Read health, error patterns, config, service and key on the host",
                      "Probe every host's health endpoint from the controller, in one call"}, ran
    assert not reports.exists() or not os.listdir(reports)


def test_a_fleet_whose_contract_is_right_goes_on(play, tmp_path):
    path = inventory(tmp_path, {3}, genesis_service_manager="process", genesis_agents=["qa_agent"])
    result = play(PLAYBOOK, inventory=path, extravars={"model_ops_probe": "controller", "model_ops_report_dir": str(tmp_path / "r")})
    # nothing answers on these hosts: a complete failure, diagnosed (the check let the run through)
    assert result.rc == 0, result.stdout[-3000:]
    assert "verdict: complete_failure" in result.stdout
