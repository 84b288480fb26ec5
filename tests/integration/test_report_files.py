"""report_files: a report's files written on the controller in the Ansible process, each whole or not at all;
bad input refused by name before anything is written; --check writes nothing. No lab needed."""
from __future__ import annotations

import os
import stat

import yaml

from tests.integration.conftest import run_playbook


def playbook(tmp_path, task, check_mode=None):
    play = [{"name": "report files", "hosts": "all", "gather_facts": False,
             "tasks": [dict({"name": "Write", "genesis.model_ops.report_files": task, "register": "out"},
                            **({"check_mode": check_mode} if check_mode is not None else {}))]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False), encoding="utf-8")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[all]\nh1 ansible_host=192.0.2.1 ansible_connection=ssh\n", encoding="utf-8")
    return str(path), str(inventory)


def run(tmp_path, task, check=False, check_mode=None):
    path, inventory = playbook(tmp_path, task, check_mode)
    return run_playbook(path, inventory=inventory, check=check)


def test_the_files_and_their_folder_are_written_without_connecting_to_the_host(tmp_path):
    # h1 is an address nobody answers at (TEST-NET-1): the action never connects to it.
    folder = tmp_path / "reports" / "runs" / "r1"
    files = [{"name": "diagnosis-latest.json", "content": '{\n    "verdict": "healthy"\n}\n'},
             {"name": "diagnosis-latest.md", "content": "# healthy \u2713\n"}]
    result = run(tmp_path, {"folder": str(folder), "files": files})
    assert result.rc == 0, result.stdout
    res = result.task("Write")["h1"]
    assert res["paths"] == [str(folder / f["name"]) for f in files] and res["folder"] == str(folder)
    assert [(folder / f["name"]).read_text(encoding="utf-8") for f in files] == [f["content"] for f in files]
    assert {stat.S_IMODE(os.stat(folder / f["name"]).st_mode) for f in files} == {0o640}
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o750
    assert sorted(os.listdir(folder)) == sorted(f["name"] for f in files)  # no temporary file left beside them


def test_check_mode_writes_nothing_unless_the_task_says_check_mode_false(tmp_path):
    folder = tmp_path / "reports"
    task = {"folder": str(folder), "files": [{"name": "a.md", "content": "x"}]}
    checked = run(tmp_path, task, check=True)
    assert checked.rc == 0, checked.stdout
    assert checked.task("Write")["h1"]["paths"] == [str(folder / "a.md")] and not folder.exists()
    forced = run(tmp_path, task, check=True, check_mode=False)
    assert forced.rc == 0, forced.stdout
    assert (folder / "a.md").read_text(encoding="utf-8") == "x"


def test_bad_input_is_refused_by_name_and_nothing_is_written(tmp_path):
    folder = tmp_path / "reports"
    cases = [
        ({"files": [{"name": "ok.md", "content": "x"}, {"name": "../escape.md", "content": "x"}]},
         "files[1].name='../escape.md' is not allowed: give a file name without a folder"),
        ({"files": [{"name": "ok.md", "content": "x"}, {"name": "data.json", "content": {"a": 1}}]},
         "files[1].content for data.json is not allowed: give text, not a dict"),
        ({"files": [{"name": "ok.md", "content": "x"}], "mode": "0999"},
         "mode='0999' is not allowed: give an octal mode such as \"0640\""),
    ]
    for extra, message in cases:
        result = run(tmp_path, dict({"folder": str(folder)}, **extra))
        assert result.rc != 0
        res = result.task("Write")["h1"]
        assert res["_event"] == "runner_on_failed" and res["msg"] == message, res.get("msg")
        assert not folder.exists()
