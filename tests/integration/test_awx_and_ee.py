# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX job templates as code (extensions/awx/) and the execution environment (execution-environment.yml),
checked without an AWX and without a container engine: the build context ansible-builder makes, the playbook's
syntax and lint, and the surveys as AWX would validate them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from ansible_collections.genesis.model_ops.plugins.plugin_utils._scenarios import RUNBOOK

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AWX = ROOT / "extensions" / "awx"
SURVEYS = sorted((AWX / "surveys").glob("*.yml"))
SCENARIOS = list(RUNBOOK)  # the runbook's scenarios, by their number there
# AWX's survey question types, and the Python type a default of each must have
QUESTION_TYPES = {"text": str, "textarea": str, "password": str, "integer": int, "float": (int, float),
                  "multiplechoice": str, "multiselect": (str, list)}


def run(*args, timeout=600):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", NO_COLOR="1")
    proc = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(args)}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


class _Loader(yaml.SafeLoader):
    """Reads playbooks: Ansible's !unsafe is a plain string here."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path):
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)


def galaxy_version():
    return load(ROOT / "galaxy.yml")["version"]


AWX_VARS = load(AWX / "vars.yml")
PLAY = load(AWX / "job_templates.yml")[0]


def task(module):
    """The play's task that calls ``module``."""
    found = [t for t in PLAY["tasks"] if module in t]
    assert len(found) == 1, module
    return found[0][module]


def survey(name):
    return load(AWX / "surveys" / name)


def question(spec, variable):
    found = [q for q in spec["spec"] if q["variable"] == variable]
    assert len(found) == 1, variable
    return found[0]


# --- the execution environment ---------------------------------------------------------------------------

def test_the_ee_installs_the_tarball_of_galaxy_yml_version():
    ee = load(ROOT / "execution-environment.yml")
    tarball = f"genesis-model_ops-{galaxy_version()}.tar.gz"
    assert ee["version"] == 3
    assert [f["src"] for f in ee["additional_build_files"]] == [tarball]
    assert [c["name"] for c in ee["dependencies"]["galaxy"]["collections"]] == [f"/build/collections/{tarball}"]
    # the same ansible-core and ansible-runner as the clone's tools
    pins = dict(line.split("==") for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + pins["ansible-core"]
    assert ee["dependencies"]["ansible_runner"]["package_pip"] == "ansible-runner==" + pins["ansible-runner"]


def test_ansible_builder_create_makes_a_build_context_with_the_collection_and_its_python_deps(tmp_path):
    # the tarball next to a copy of the definition, as `make build` puts it next to the original
    run("ansible-galaxy", "collection", "build", "--force", "--output-path", str(tmp_path), str(ROOT))
    tarball = f"genesis-model_ops-{galaxy_version()}.tar.gz"
    assert (tmp_path / tarball).is_file()
    shutil.copy(ROOT / "execution-environment.yml", tmp_path)
    context = tmp_path / "context"
    run("ansible-builder", "create", "-f", str(tmp_path / "execution-environment.yml"), "--context", str(context),
        "--output-filename", "Containerfile")

    containerfile = (context / "Containerfile").read_text()
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", containerfile), containerfile
    assert "COPY _build /build" in containerfile
    # the collections' Python requirements are gathered and installed at build time
    assert "introspect.py introspect" in containerfile and "/output/scripts/assemble" in containerfile
    assert 'ANSIBLE_INSTALL_REFS="ansible-core==' in containerfile
    assert load(context / "_build" / "requirements.yml") == {
        "collections": [{"name": f"/build/collections/{tarball}", "type": "file"}]}
    assert (context / "_build" / "collections" / tarball).is_file()

    # what the build's introspection will find in the tarball once installed: requirements.txt, through
    # meta/execution-environment.yml (PyYAML comes with ansible-core)
    collections = tmp_path / "collections"
    installed = collections / "ansible_collections" / "genesis" / "model_ops"
    with tarfile.open(tmp_path / tarball) as archive:
        for member in ("MANIFEST.json", "meta/execution-environment.yml", "requirements.txt"):
            archive.extract(member, installed, filter="data")
    proc = run("python", str(context / "_build" / "scripts" / "introspect.py"), "introspect", str(collections))
    found = {re.split(r"[<>=!~ ]", line)[0].lower() for line in yaml.safe_load(proc.stdout)["python"] or []}
    wanted = {re.split(r"[<>=!~ ]", line)[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert wanted - {"pyyaml"} <= found, proc.stdout


def test_the_build_context_and_the_ee_definition_stay_out_of_git_and_of_the_collection():
    assert "/context/" in (ROOT / ".gitignore").read_text().splitlines()
    ignored = load(ROOT / "galaxy.yml")["build_ignore"]
    assert {"execution-environment.yml", "context", "*.tar.gz"} <= set(ignored)


# --- the AWX playbook ------------------------------------------------------------------------------------

def test_the_awx_playbook_passes_syntax_check():
    run("ansible-playbook", "--syntax-check", str(AWX / "job_templates.yml"))


def test_the_awx_playbook_and_the_ee_pass_ansible_lint():
    # the production profile of the clone's .ansible-lint
    run("ansible-lint", "extensions/awx", "execution-environment.yml")


def test_every_job_template_runs_a_root_wrapper_of_the_collections_playbook():
    playbooks = [jt["playbook"] for jt in AWX_VARS["awx_job_templates"]]
    assert sorted(playbooks) == sorted(["diagnose.yml", "rollback.yml", "remediate.yml"]
                                       + [f"remediate_{s}.yml" for s in SCENARIOS])
    for jt in AWX_VARS["awx_job_templates"]:
        wrapper = load(ROOT / jt["playbook"])
        assert wrapper[0]["ansible.builtin.import_playbook"] == "genesis.model_ops." + Path(jt["playbook"]).stem
        assert (ROOT / "playbooks" / jt["playbook"]).is_file()
        assert jt["survey"] == "none" or (AWX / "surveys" / jt["survey"]).is_file(), jt
    job_template = task("awx.awx.job_template")
    assert job_template["ask_limit_on_launch"] is True
    assert job_template["playbook"] == "{{ item.playbook }}"


def test_the_new_key_comes_from_the_survey_and_the_credential_injects_the_fleet_key():
    by_playbook = {jt["playbook"]: jt for jt in AWX_VARS["awx_job_templates"]}
    assert not by_playbook["remediate_credentials.yml"]["mistral_key"]
    assert by_playbook["remediate.yml"]["mistral_key"] and by_playbook["diagnose.yml"]["mistral_key"]
    credential_type = task("awx.awx.credential_type")
    assert credential_type["injectors"] == {"extra_vars": {"mistral_api_key": "{{ api_key }}"}}
    assert credential_type["inputs"]["fields"][0]["secret"] is True
    credential = [t for t in PLAY["tasks"] if "awx.awx.credential" in t][0]
    assert credential["no_log"] is True


# --- the surveys -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", SURVEYS, ids=[p.stem for p in SURVEYS])
def test_each_survey_is_one_awx_accepts(path):
    spec = load(path)
    assert isinstance(spec["name"], str) and isinstance(spec["description"], str)
    assert spec["spec"], "a survey without questions"
    variables = [q["variable"] for q in spec["spec"]]
    assert len(variables) == len(set(variables))
    for q in spec["spec"]:
        assert {"question_name", "variable", "type", "required"} <= set(q), q
        assert isinstance(q["required"], bool) and q["type"] in QUESTION_TYPES, q
        assert re.fullmatch(r"[a-z_][a-z0-9_]*", q["variable"]), q
        if q["type"] in ("multiplechoice", "multiselect"):
            assert isinstance(q["choices"], list) and all(isinstance(c, str) for c in q["choices"]), q
        if "default" in q:
            assert isinstance(q["default"], QUESTION_TYPES[q["type"]]), q
            defaults = q["default"] if isinstance(q["default"], list) else [q["default"]]
            if "choices" in q:
                assert set(defaults) <= set(q["choices"]), q
        if q["type"] == "integer":
            for bound in ("min", "max"):
                assert bound not in q or isinstance(q[bound], int), q
            if "default" in q:
                assert q.get("min", q["default"]) <= q["default"] <= q.get("max", q["default"]), q
        # a password's default would be stored, and its name is the one the playbooks keep out of logs
        if q["type"] == "password":
            assert "default" not in q and q["variable"] == "mistral_api_key", q
        # each variable is one the playbooks read
        if path.stem != "remediate_workflow":
            assert q["variable"] in (ROOT / "playbooks" / path.name).read_text(), q


@pytest.mark.parametrize("path", SURVEYS, ids=[p.stem for p in SURVEYS])
def test_the_guardrails_are_typed_and_bounded(path):
    for q in load(path)["spec"]:
        if q["variable"] == "pct":
            assert (q["type"], q["min"], q["max"]) == ("integer", 0, 100), q
        if q["variable"] == "max_hosts":
            assert q["type"] == "integer" and q["min"] == 1 and q["default"] == 10, q
        if q["variable"] in ("dry_run", "use_finetuned"):
            assert q["type"] == "multiplechoice" and sorted(q["choices"]) == ["false", "true"], q
        if q["variable"] == "approve":
            assert q["type"] == "multiselect" and q["choices"] == SCENARIOS, q


def test_each_survey_asks_what_its_playbook_needs():
    assert question(survey("remediate_rate_limit.yml"), "pct")["default"] == 5
    assert question(survey("rollback.yml"), "pct")["required"] is False  # pct and/or use_finetuned
    assert question(survey("remediate_credentials.yml"), "mistral_api_key")["type"] == "password"
    assert question(survey("remediate_credentials.yml"), "mistral_api_key")["required"] is True
    remediate = survey("remediate.yml")
    assert {q["variable"] for q in remediate["spec"]} == {"approve", "max_hosts", "dry_run", "pct"}
    assert question(remediate, "dry_run")["default"] == "false"
    assert {q["variable"] for q in survey("remediate_workflow.yml")["spec"]} == {"max_hosts", "dry_run", "pct"}


# --- the workflow and the schedule -----------------------------------------------------------------------

def resolve(value):
    """A node's or schedule's value: a play variable ("{{ name }}") read from vars.yml, or the value itself."""
    match = re.fullmatch(r"\{\{ *([a-z_]+) *\}\}", value) if isinstance(value, str) else None
    return AWX_VARS[match.group(1)] if match else value


def accepted_by(survey_file, extra_data):
    """AWX passes a node's or schedule's variables to a job template only when its survey asks them."""
    spec = survey(survey_file)
    for variable, value in extra_data.items():
        q = question(spec, variable)
        values = value if isinstance(value, list) else [value]
        assert set(values) <= set(q.get("choices", values)), (variable, value)


def test_the_workflow_is_diagnose_approval_remediate_diagnose():
    workflow = task("awx.awx.workflow_job_template")
    assert workflow["ask_limit_on_launch"] is True and workflow["survey_enabled"] is True
    nodes = {}
    for node in PLAY["vars"]["awx_workflow_nodes"]:
        nodes.setdefault(node["identifier"], {}).update(node)
    links = {(identifier, kind): node[kind] for identifier, node in nodes.items()
             for kind in ("success_nodes", "failure_nodes", "always_nodes") if kind in node}
    # a person is asked only when the diagnosis is not healthy (fail_on=unhealthy fails the job)
    assert links == {("diagnose", "failure_nodes"): ["approve"], ("approve", "success_nodes"): ["remediate"],
                     ("remediate", "always_nodes"): ["diagnose_after"]}
    assert "job_template" not in nodes["approve"] and set(nodes["approve"]["approval"]) == {"name", "description", "timeout"}
    # every node is created before a node that leads to it is linked
    order = [node["identifier"] for node in PLAY["vars"]["awx_workflow_nodes"]]
    for (identifier, _kind), targets in links.items():
        for target in targets:
            assert order.index(target) < max(i for i, name in enumerate(order) if name == identifier)
    for identifier in ("diagnose", "diagnose_after"):
        assert nodes[identifier]["job_template"] == "{{ awx_jt_diagnose }}"
        extra = {k: resolve(v) for k, v in nodes[identifier]["extra_data"].items()}
        assert extra == {"fail_on": "unhealthy"}
        accepted_by("diagnose.yml", extra)
    # approving means approve= these scenarios for remediate.yml
    assert nodes["remediate"]["job_template"] == "{{ awx_jt_remediate }}"
    approve = resolve(nodes["remediate"]["extra_data"]["approve"])
    assert approve == SCENARIOS
    accepted_by("remediate.yml", {"approve": approve})


def test_diagnose_runs_every_5_minutes():
    schedule = task("awx.awx.schedule")
    rrule = resolve(schedule["rrule"])
    assert re.fullmatch(r"DTSTART:\d{8}T\d{6}Z RRULE:FREQ=MINUTELY;INTERVAL=5", rrule), rrule
    assert schedule["unified_job_template"] == "{{ awx_jt_diagnose }}"
    accepted_by("diagnose.yml", resolve(schedule["extra_data"]))
