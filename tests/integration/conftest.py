"""Integration harness: run a playbook for real through ansible-runner (the engine AWX uses),
against the lab, and hand back what every task returned."""
import json
import os
import shutil
import tempfile

import ansible_runner
import pytest

from tests.conftest import ROOT, lab_inventory

# The playbooks the tests run: in a dot-folder, which AWX's project scan skips (they are no job template's)
TARGETS = os.path.join(ROOT, "tests", "integration", ".targets")


class PlayResult:
    """A finished run: its status, its text output, and every task result by (task name, host)."""

    def __init__(self, runner, stdout):
        self.rc = runner.rc
        self.status = runner.status
        self.stdout = stdout
        self.events = list(runner.events)
        self.results = {}
        for event in self.events:
            data = event.get("event_data", {})
            if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
                self.results.setdefault(data.get("task"), {})[data.get("host")] = dict(
                    data.get("res", {}), _event=event["event"])
        self.stats = runner.stats or {}

    def task(self, name):
        """{host: result} of the task called ``name``."""
        assert name in self.results, f"task {name!r} did not run; ran: {list(self.results)}\n{self.stdout}"
        return self.results[name]

    def changed_hosts(self):
        return sorted(host for host, count in (self.stats.get("changed") or {}).items() if count)


def run_playbook(playbook, extravars=None, check=False, diff=False, limit=None, verbosity=0, envvars=None,
                 inventory=None, event_handler=None):
    """Run ``playbook`` (a path under tests/integration/.targets, or absolute) with the clone's ansible.cfg;
    ``event_handler`` sees each event as it comes (ansible-runner's)."""
    path = playbook if os.path.isabs(playbook) else os.path.join(TARGETS, playbook)
    private = tempfile.mkdtemp(prefix="genesis-runner-")
    cmdline = []
    if check:
        cmdline.append("--check")
    if diff:
        cmdline.append("--diff")
    try:
        env = {"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
               # ansible-runner starts ansible-playbook from PATH: the clone's venv, however pytest was started
               "PATH": os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ.get("PATH", "")}
        env.update(envvars or {})
        runner = ansible_runner.run(
            private_data_dir=private, playbook=path, project_dir=os.path.dirname(path),
            inventory=inventory or lab_inventory(),
            extravars=extravars or {}, cmdline=" ".join(cmdline) or None, limit=limit, verbosity=verbosity,
            envvars=env, quiet=True, json_mode=False, event_handler=event_handler)
        return PlayResult(runner, runner.stdout.read())
    finally:
        shutil.rmtree(private, ignore_errors=True)


@pytest.fixture
def play():
    return run_playbook


def dumps(value):
    return json.dumps(value, indent=2, sort_keys=True, default=str)
