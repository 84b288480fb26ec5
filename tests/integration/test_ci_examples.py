# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""examples/ci/: valid for their systems (the GitHub Actions and GitLab CI schemas check-jsonschema vendors),
and working where they are meant to run: a site repository that holds only an inventory and
collections/requirements.yml. The test builds such a repository, its requirements.yml pointing at a git
repository of this checkout, and runs the pipelines' steps as their runners would: each `run:` (or
before_script and script) with the environment the YAML declares, in a fresh Python with nothing installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from lab import paths
from tests.conftest import ROOT, copy_checkout
from tests.integration.test_rollback import fleet, snapshot  # noqa: F401 (fixture)  pylint: disable=unused-import

CI = os.path.join(ROOT, "examples", "ci")
BIN = os.path.join(ROOT, ".venv", "bin")
COLLECTION = "collections/ansible_collections/genesis/model_ops"


def example(name):
    with open(os.path.join(CI, name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def github_steps(job):
    """[(name, script, env)] of the job's `run:` steps, each step's env over the job's over the workflow's."""
    workflow = example("github-actions.yml")
    env = dict(workflow.get("env", {}), **workflow["jobs"][job].get("env", {}))
    return [(step["name"], step["run"], dict(env, **step.get("env", {})))
            for step in workflow["jobs"][job]["steps"] if "run" in step]


def expressions(env, values):
    """The env with each ${{ expression }} as GitHub evaluates it from ``values`` (`a || b`: a unless empty)."""
    def one(match):
        for alternative in match.group(1).split("||"):
            alternative = alternative.strip()
            value = values[alternative] if alternative in values else json.loads(alternative)
            if value not in ("", None, False):
                return str(value).lower() if isinstance(value, bool) else str(value)
        return ""
    return {name: re.sub(r"\$\{\{\s*(.*?)\s*\}\}", one, str(value)) for name, value in env.items()}


@pytest.mark.parametrize("name, schema", [("github-actions.yml", "vendor.github-workflows"),
                                          ("gitlab-ci.yml", "vendor.gitlab-ci")])
def test_pipeline_is_valid_for_its_system(name, schema):
    proc = subprocess.run([os.path.join(BIN, "check-jsonschema"), "--builtin-schema", schema, os.path.join(CI, name)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_input_or_secret_is_pasted_into_a_script():
    # GitHub's security hardening guide: an expression in `run:` is substituted into the script before the shell
    # reads it, so an input like `x"; curl ... | sh; "` would run; through `env:` it stays a value
    workflow = example("github-actions.yml")
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step["name"]


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_pipeline_runs_the_installed_collection_at_pinned_versions(name):
    with open(os.path.join(CI, name), encoding="utf-8") as handle:
        text = handle.read()
    pipeline = yaml.safe_load(text)
    env = pipeline.get("env") or pipeline.get("variables")
    pins = dict(line.split("==") for line in open(os.path.join(ROOT, "requirements-dev.txt"), encoding="utf-8").read().splitlines()
                if "==" in line and not line.startswith("#"))
    assert env["ANSIBLE_CORE_VERSION"] == pins["ansible-core"]
    assert env["ANSIBLE_COLLECTIONS_PATH"] == "collections" and env["COLLECTION"] == COLLECTION
    assert 'pip install "ansible-core==$ANSIBLE_CORE_VERSION"' in text
    assert "ansible-galaxy collection install -r collections/requirements.yml -p collections" in text
    # nothing is built from the site repository, nothing is called by a path of a clone
    assert "collection build" not in text and not re.search(r"ansible-playbook\s+\S+\.yml", text)
    playbooks = set(re.findall(r"ansible-playbook\s+genesis\.model_ops\.(\w+)", text))
    assert playbooks == {"diagnose", "preflight"}
    for playbook in playbooks:
        assert os.path.isfile(os.path.join(ROOT, "playbooks", playbook + ".yml")), playbook
    assert '"$COLLECTION/examples/ci/remediate.sh"' in text
    assert os.access(os.path.join(CI, "remediate.sh"), os.X_OK)
    # the collection at a tag or commit, never a branch
    requirement = example("requirements.yml")["collections"][0]
    assert requirement["type"] == "git" and re.fullmatch(r"v\d+\.\d+\.\d+", requirement["version"]), requirement


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory):
    """What actions/setup-python or the python:3.11 image gives: Python 3.11 and pip, nothing else."""
    venv = tmp_path_factory.mktemp("python") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    return str(venv / "bin")


def site_repository(tmp_path, lab):
    """A site repository: the lab's inventory and collections/requirements.yml naming a git repository of this
    checkout at a tag, as examples/ci/requirements.yml names the collection's."""
    source = copy_checkout(tmp_path / "genesis-model-ops", venv=False)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-q", "-m", "release"],
                 ["tag", "v0.2.0"]):
        subprocess.run(["git", *args], cwd=source, check=True, capture_output=True, timeout=120)
    site = tmp_path / "site"
    (site / "inventory").mkdir(parents=True)
    (site / "collections").mkdir()
    shutil.copy(lab.inventory, site / "inventory" / "hosts.yml")
    requirements = example("requirements.yml")
    requirements["collections"][0]["name"] = "file://%s" % source
    (site / "collections" / "requirements.yml").write_text(yaml.safe_dump(requirements), encoding="utf-8")
    return site


def run_script(site, python, script, env, home):
    """A step's script with the shell and the environment a runner gives it: a fresh HOME, the job's Python."""
    base = {"PATH": python + os.pathsep + "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=site,
                          env=dict(base, **env), capture_output=True, text=True, timeout=900, check=False)


def degraded_site(lab, tmp_path):
    """A rate limit on one host of the lab, and a site repository for it: (site, key, that host, the secrets)."""
    with open(paths.keys_file(lab.fleet.state), encoding="utf-8") as handle:
        key = json.load(handle)["fleet"]
    bad = lab.hosts[2]
    lab.cli("fault", "rate_limit", "--hosts", bad.name, "--retry-after", "2")
    lab.cli("wait", "--hosts", bad.name, "--status", "degraded", "--timeout", "40")
    secrets = {"secrets.MISTRAL_API_KEY": key, "secrets.SSH_PRIVATE_KEY": open(lab.fleet.meta["ssh_key"], encoding="utf-8").read(),
               "secrets.SSH_KNOWN_HOSTS": ""}
    return site_repository(tmp_path, lab), key, bad, secrets


def test_the_github_pipeline_runs_in_a_site_repository(fleet, fresh_python, tmp_path, home):  # noqa: F811
    lab = fleet
    site, key, bad, secrets = degraded_site(lab, tmp_path)
    before = snapshot(lab)

    # GitHub Actions, a manual run asking for a dry run: install, diagnose, remediate
    inputs = {"inputs.approve": "", "inputs.dry_run": True}
    steps = github_steps("remediate")
    assert [name for name, _script, _env in steps] == [
        "Install ansible-core and the collection", "SSH key and known hosts for the hosts", "Diagnose",
        "Remediate within the guardrails"]
    for name, script, env in steps:
        proc = run_script(site, fresh_python, script, expressions(env, dict(secrets, **inputs)), home)
        assert proc.returncode == 0, f"{name}: rc {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        assert key not in proc.stdout + proc.stderr, name
    # the collection and ansible-core came from the pinned sources
    installed = subprocess.run([os.path.join(fresh_python, "ansible-galaxy"), "collection", "list", "genesis.model_ops",
                                "--format", "json", "-p", "collections"], cwd=site, capture_output=True, text=True,
                               check=True, timeout=120, env={"PATH": fresh_python + ":/usr/bin:/bin", "HOME": home})
    assert "genesis.model_ops" in installed.stdout
    assert str(site / "collections" / "ansible_collections") in installed.stdout
    version = subprocess.run([os.path.join(fresh_python, "ansible"), "--version"], capture_output=True, text=True, check=True)
    assert "core 2.19.14" in version.stdout
    with open(site / "reports" / "diagnosis-latest.json", encoding="utf-8") as handle:
        assert json.load(handle)["hosts"][bad.name]["scenarios"] == ["rate_limit"]
    with open(site / "reports" / "remediation-latest.json", encoding="utf-8") as handle:
        assert json.load(handle)["outcome"] == "dry_run"
    assert snapshot(lab) == before

    # an input that would be shell code, had it been pasted into the script: a value, refused by the playbook
    name, script, env = steps[-1]
    inputs = {"inputs.approve": 'rate_limit"; touch pwned; echo "', "inputs.dry_run": False}
    proc = run_script(site, fresh_python, script, expressions(env, dict(secrets, **inputs)), home)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "allowed: credentials, rate_limit, model_unavailable, complete_failure" in proc.stdout, proc.stdout[-3000:]
    assert not (site / "pwned").exists()
    assert snapshot(lab) == before


def test_the_gitlab_pipeline_runs_in_a_site_repository(fleet, fresh_python, tmp_path, home):  # noqa: F811
    """before_script and the diagnose job's script, the CI/CD variables as environment variables (a file
    variable's value is the path of a file holding it)."""
    lab = fleet
    site, key, bad, secrets = degraded_site(lab, tmp_path)
    before = snapshot(lab)
    pipeline = example("gitlab-ci.yml")
    files = tmp_path / "variables"
    files.mkdir()
    (files / "ssh_key").write_text(secrets["secrets.SSH_PRIVATE_KEY"], encoding="utf-8")
    (files / "known_hosts").write_text("", encoding="utf-8")
    env = dict(pipeline["variables"], MISTRAL_API_KEY=key, SSH_PRIVATE_KEY=str(files / "ssh_key"),
               SSH_KNOWN_HOSTS=str(files / "known_hosts"))
    script = "\n".join(pipeline["default"]["before_script"] + pipeline["diagnose"]["script"])
    proc = run_script(site, fresh_python, script, env, home)
    assert proc.returncode == 0, f"rc {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert key not in proc.stdout + proc.stderr
    with open(site / "reports" / "diagnosis-latest.json", encoding="utf-8") as handle:
        assert json.load(handle)["hosts"][bad.name]["scenarios"] == ["rate_limit"]
    assert snapshot(lab) == before
