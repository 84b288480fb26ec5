# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""preflight.yml, the pre-deployment gate: every model id and baseline of a config checked once with the
Mistral API (the lab's simulator, through the real SDK); the gate fails naming each one that is gone."""

from __future__ import annotations

import json
import os

import yaml

from tests.conftest import ROOT
from tests.integration.test_awx_jobs import fleet_key
from tests.integration.test_rollback import fleet, play, snapshot  # noqa: F401 (fixtures)  pylint: disable=unused-import

PREFLIGHT = os.path.join(ROOT, "preflight.yml")


def report(tmp_path, name):
    with open(tmp_path / name / "preflight-latest.json", encoding="utf-8") as handle:
        return json.load(handle)


def test_the_hosts_configs_pass_then_a_deleted_model_fails_the_gate(fleet, play, tmp_path):  # noqa: F811
    lab = fleet
    before = snapshot(lab)
    result = play({"model_ops_report_dir": str(tmp_path / "ok")}, playbook=PREFLIGHT)
    assert result.rc == 0, result.stdout
    assert "8 model ids checked, every one is there" in result.stdout
    assert report(tmp_path, "ok")["passed"] is True

    lab.cli("fault", "model_unavailable", "--agents", "qa_agent")
    result = play({"model_ops_report_dir": str(tmp_path / "gone")}, playbook=PREFLIGHT)
    assert result.rc != 0
    found = report(tmp_path, "gone")
    assert found["passed"] is False
    assert sorted({(f["agent"], f["role"]) for f in found["findings"]}) == [("qa_agent", "finetuned")]
    assert sorted(f["where"] for f in found["findings"]) == [h.name for h in lab.hosts]  # every host configures it
    assert "do not deploy: genesis-001 qa_agent finetuned is ft:" in result.stdout and ": missing (" in result.stdout
    assert snapshot(lab) == before  # read-only


def test_a_config_to_deploy_with_a_retired_baseline_fails_from_the_controller_alone(lab, tmp_path):
    """As a pipeline runs it: no host, the config from the repository, the key from the environment."""
    from tests.integration.conftest import run_playbook  # pylint: disable=import-outside-toplevel
    config = yaml.safe_load(open(lab.hosts[0].config, encoding="utf-8"))
    config["models"]["agents"]["legal_agent"]["baseline"] = "open-mistral-7b"  # retired by Mistral in 2025
    path = tmp_path / "production.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    inventory = tmp_path / "hosts.ini"
    # the controller's Python, where mistralai is installed (the pipelines pass ansible_playbook_python)
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n"
                         % os.path.join(ROOT, ".venv", "bin", "python"), encoding="utf-8")
    key = fleet_key(lab)
    result = run_playbook(PREFLIGHT, inventory=str(inventory), envvars={"MISTRAL_API_KEY": key},
                          extravars={"target": "localhost", "config_file": str(path), "mistral_server_url": lab.fleet.mistral_url,
                                     "model_ops_report_dir": str(tmp_path / "gate")})
    assert result.rc != 0
    assert "%s legal_agent baseline is open-mistral-7b: missing (" % path in result.stdout, result.stdout
    assert "move to " in result.stdout  # the replacement the API or the retirements name
    assert [(f["agent"], f["role"]) for f in report(tmp_path, "gate")["findings"]] == [("legal_agent", "baseline")]
    assert key not in result.stdout and key[:10] not in json.dumps(result.events)

    # a bad config_file is refused, naming it
    result = run_playbook(PREFLIGHT, inventory=str(inventory), envvars={"MISTRAL_API_KEY": key},
                          extravars={"target": "localhost", "config_file": str(tmp_path / "nope.yaml")})
    assert result.rc != 0 and "config_file=%s is not a file on the controller" % (tmp_path / "nope.yaml") in result.stdout
