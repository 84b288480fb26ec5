# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX job templates as code (extensions/awx/) and the execution environment (execution-environment.yml),
checked without an AWX and without a container engine: the build context ansible-builder makes, the playbook's
syntax and lint, and the surveys as AWX would validate them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from bindep.depends import Depends
from jinja2 import ChainableUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tests.conftest import copy_checkout
from tests.integration.awx_api import load

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


def galaxy_version():
    return load(ROOT / "galaxy.yml")["version"]


AWX_VARS = load(AWX / "vars.yml")
PLAY = load(AWX / "job_templates.yml")[0]


def task(module, sliced=False):
    """The play's task that calls ``module``: the one for the sliced workflow, or the other one."""
    found = [t for t in PLAY["tasks"] if module in t and ("liced" in t["name"]) is sliced]
    assert len(found) == 1, module
    return found[0][module]


def survey(name):
    return load(AWX / "surveys" / name)


def question(spec, variable):
    found = [q for q in spec["spec"] if q["variable"] == variable]
    assert len(found) == 1, variable
    return found[0]


# --- the execution environment ---------------------------------------------------------------------------

def test_the_ee_definition_pins_the_clones_tools_and_no_collection_version():
    ee = load(ROOT / "execution-environment.yml")
    assert ee["version"] == 3
    # the same ansible-core and ansible-runner as the clone's tools
    pins = dict(line.split("==") for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert ee["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + pins["ansible-core"]
    assert ee["dependencies"]["ansible_runner"]["package_pip"] == "ansible-runner==" + pins["ansible-runner"]
    # the collection's version is galaxy.yml's alone: `make ee-context` names the tarball
    assert galaxy_version() not in (ROOT / "execution-environment.yml").read_text()
    assert ee["dependencies"]["galaxy"] == "dist/requirements.yml"
    assert ee["additional_build_files"] == [{"src": "dist/genesis-model_ops-*.tar.gz", "dest": "collections"}]


def test_ansible_builder_create_without_the_tarball_stops(tmp_path):
    # the definition as in a fresh clone, before `make ee-context`
    shutil.copy(ROOT / "execution-environment.yml", tmp_path)
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(tmp_path / "execution-environment.yml"),
                           "--context", str(tmp_path / "context")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert re.search(r"Dependency file \S*/dist/requirements\.yml does not exist", proc.stdout + proc.stderr), proc.stderr
    assert not (tmp_path / "context" / "Containerfile").exists()


def test_bindep_selects_the_ssh_client_and_sshpass_on_rpm_and_dpkg_platforms():
    # bindep's own evaluation of the file, with the profiles `bindep -l newline` (the EE's assemble step)
    # finds on each family of platforms
    rules = Depends((ROOT / "bindep.txt").read_text())
    assert sorted(r[0] for r in rules.active_rules(["default", "platform:rpm", "platform:redhat", "platform:centos"])) == [
        "openssh-clients", "sshpass"]
    assert sorted(r[0] for r in rules.active_rules(["default", "platform:dpkg", "platform:debian", "platform:ubuntu"])) == [
        "openssh-client", "sshpass"]
    assert load(ROOT / "meta" / "execution-environment.yml")["dependencies"] == {
        "python": "requirements.txt", "system": "bindep.txt"}


def make(tree, *args):
    """``make`` in a copy of the clone (the shared venv linked, setup taken as done)."""
    env = dict(os.environ, PATH=str(BIN) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run(["make", "--no-print-directory", "-o", "setup", *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, f"make {' '.join(args)}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_make_ee_context_builds_the_context_around_the_tarball_of_galaxy_yml_version(tmp_path):
    tree = copy_checkout(tmp_path / "clone")
    # a release: galaxy.yml's version changes, and nothing else has to
    galaxy = (tree / "galaxy.yml").read_text()
    (tree / "galaxy.yml").write_text(re.sub(r"(?m)^version: .*$", "version: 9.8.7", galaxy))
    tarball = "genesis-model_ops-9.8.7.tar.gz"
    make(tree, "ee-context")
    context = tree / "context"

    containerfile = (context / "Containerfile").read_text()
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", containerfile), containerfile
    assert "COPY _build /build" in containerfile
    # the collections' Python requirements and system packages are gathered and installed at build time
    assert "introspect.py introspect" in containerfile and "/output/scripts/assemble" in containerfile
    assert "/output/scripts/install-from-bindep" in containerfile
    assert 'ANSIBLE_INSTALL_REFS="ansible-core==' in containerfile
    assert load(context / "_build" / "requirements.yml") == {
        "collections": [{"name": f"/build/collections/{tarball}", "type": "file"}]}
    assert [p.name for p in (context / "_build" / "collections").iterdir()] == [tarball]

    # what the build's introspection will find in the tarball once installed: requirements.txt and bindep.txt,
    # through meta/execution-environment.yml (PyYAML comes with ansible-core)
    collections = tmp_path / "collections"
    installed = collections / "ansible_collections" / "genesis" / "model_ops"
    with tarfile.open(context / "_build" / "collections" / tarball) as archive:
        for member in ("MANIFEST.json", "meta/execution-environment.yml", "requirements.txt", "bindep.txt"):
            archive.extract(member, installed, filter="data")
    proc = run("python", str(context / "_build" / "scripts" / "introspect.py"), "introspect", str(collections))
    found = yaml.safe_load(proc.stdout)
    python = {re.split(r"[<>=!~ ]", line)[0].lower() for line in found["python"] or []}
    wanted = {re.split(r"[<>=!~ ]", line)[0].lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert wanted - {"pyyaml"} <= python, proc.stdout
    system = [line.split("#")[0].strip() for line in found["system"]]
    assert system == ["openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]", "sshpass"], proc.stdout


def test_the_base_image_and_package_manager_are_build_arguments(tmp_path):
    tree = copy_checkout(tmp_path / "clone")
    make(tree, "ee-context")
    containerfile = (tree / "context" / "Containerfile").read_text()
    # defaults: awx-ee's base (CentOS Stream 9) and dnf; every stage takes them as build arguments
    assert containerfile.startswith('ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"\n')
    assert '\nARG PKGMGR="/usr/bin/dnf"\n' in containerfile
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    stages = containerfile.split("\nFROM ")[1:]
    assert len(stages) == 4 and all("\nARG PKGMGR\n" in stage for stage in stages)
    # make ee hands the choice to the container engine: AAP's ee-minimal with microdnf
    minimal = "registry.redhat.io/ansible-automation-platform-25/ee-minimal-rhel9:latest"
    dry = make(tree, "-n", "-o", "ee-context", "ee", f"EE_BASE_IMAGE={minimal}", "EE_PKGMGR=/usr/bin/microdnf")
    assert re.search(rf"podman build -f context/Containerfile -t genesis-model_ops-ee:{re.escape(galaxy_version())} "
                     rf"\\\n\s*--build-arg EE_BASE_IMAGE={re.escape(minimal)} --build-arg PKGMGR=/usr/bin/microdnf context", dry), dry
    dry = make(tree, "-n", "-o", "ee-context", "ee")
    assert "--build-arg" not in dry, dry


def test_the_build_context_and_the_ee_definition_stay_out_of_git_and_of_the_collection():
    assert {"/context/", "/dist/"} <= set((ROOT / ".gitignore").read_text().splitlines())
    ignored = load(ROOT / "galaxy.yml")["build_ignore"]
    assert {"execution-environment.yml", "context", "dist", "*.tar.gz"} <= set(ignored)
    assert "bindep.txt" not in ignored


# --- the AWX playbook ------------------------------------------------------------------------------------

def test_the_awx_playbook_passes_syntax_check():
    run("ansible-playbook", "--syntax-check", str(AWX / "job_templates.yml"))


def test_the_awx_playbook_and_the_ee_pass_ansible_lint():
    # the production profile of the clone's .ansible-lint
    run("ansible-lint", "extensions/awx", "execution-environment.yml")


RECORDER = """#!/usr/bin/python
# WANT_JSON
# Stands in for awx.awx.%s in a test: records the parameters the playbook gives it; AWX is not asked.
import json
import os
import sys

with open(sys.argv[1], encoding="utf-8") as handle:
    params = {k: v for k, v in json.load(handle).items() if not k.startswith("_ansible")}
with open(os.environ["AWX_RECORD"], "a", encoding="utf-8") as handle:
    handle.write(json.dumps({"module": "%s", "params": params}) + "\\n")
print(json.dumps({"changed": False, "id": 1}))
"""
NOTIFICATION_SECRETS = ("MODEL_OPS_SLACK_WEBHOOK_URL", "MODEL_OPS_WEBHOOK_PASSWORD", "MODEL_OPS_PAGERDUTY_TOKEN",
                        "MODEL_OPS_PAGERDUTY_SERVICE_KEY", "MISTRAL_API_KEY")


def run_against_recorders(tmp_path, extra_vars):
    """job_templates.yml run for real, each awx.awx module it calls replaced by a recorder (no AWX here);
    (what each module was given, in order; the output at -vvv; the secrets, from this machine's environment)."""
    modules = sorted({name.split(".")[-1] for t in PLAY["tasks"] for name in t if name.startswith("awx.awx.")})
    collection = tmp_path / "collections" / "ansible_collections" / "awx" / "awx"
    (collection / "plugins" / "modules").mkdir(parents=True, exist_ok=True)
    (collection / "meta").mkdir(exist_ok=True)
    (collection / "meta" / "runtime.yml").write_text(yaml.safe_dump({"requires_ansible": ">=2.17.0", "action_groups": {
        "controller": modules}}), encoding="utf-8")
    for module in modules:
        (collection / "plugins" / "modules" / (module + ".py")).write_text(RECORDER % (module, module), encoding="utf-8")
    record = tmp_path / "record.jsonl"
    record.unlink(missing_ok=True)
    secrets = {name: "%s-%s" % (name.lower(), os.urandom(12).hex()) for name in NOTIFICATION_SECRETS}
    (tmp_path / "vars.json").write_text(json.dumps(extra_vars), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", AWX_RECORD=str(record),
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               **secrets)
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-vvv", str(AWX / "job_templates.yml"), "-e",
                           "@" + str(tmp_path / "vars.json")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    calls = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    return calls, proc.stdout + proc.stderr, secrets


def given(calls, module):
    return [c["params"] for c in calls if c["module"] == module]


NOTIFY = {"awx_notify": ["slack", "webhook", "pagerduty"], "awx_webhook_url": "https://hooks.example.com/model-ops",
          "awx_pagerduty_subdomain": "genesis"}


def test_notification_templates_reach_awx_with_their_secrets_from_the_environment_and_show_them_nowhere(tmp_path):
    calls, output, secrets = run_against_recorders(tmp_path, NOTIFY)
    templates = {t["name"]: t for t in given(calls, "notification_template")}
    assert sorted(templates) == ["Genesis model_ops PagerDuty", "Genesis model_ops Slack", "Genesis model_ops webhook"]
    slack, webhook, pagerduty = (templates["Genesis model_ops " + kind] for kind in ("Slack", "webhook", "PagerDuty"))
    assert (slack["notification_type"], slack["notification_configuration"]["url"]) == (
        "webhook", secrets["MODEL_OPS_SLACK_WEBHOOK_URL"])
    # AWX's own Jinja reaches it untouched, for every event
    raw = PLAY["vars"]["awx_slack_blocks"]
    assert "{{ url | tojson }}" in raw and {e: m["body"] for e, m in slack["messages"].items()} == dict.fromkeys(
        ("started", "success", "error"), raw)
    assert webhook["notification_type"] == "webhook" and webhook["notification_configuration"] == {
        "url": NOTIFY["awx_webhook_url"], "http_method": "POST", "username": "model_ops",
        "password": secrets["MODEL_OPS_WEBHOOK_PASSWORD"], "headers": {}}
    assert pagerduty["notification_type"] == "pagerduty" and pagerduty["notification_configuration"] == {
        "subdomain": "genesis", "token": secrets["MODEL_OPS_PAGERDUTY_TOKEN"],
        "service_key": secrets["MODEL_OPS_PAGERDUTY_SERVICE_KEY"], "client_name": "Genesis model_ops"}
    # AWX shows no secret back: an existing template is left alone (a second run changes nothing)
    assert {t["state"] for t in templates.values()} == {"exists"}
    # nothing of a secret in the output, at -vvv
    for secret in secrets.values():
        assert secret not in output and secret[-16:] not in output

    # attached to the diagnose and remediate templates, by event; the others have none
    attached = {jt["name"]: tuple(jt["notification_templates_" + e] for e in ("started", "success", "error"))
                for jt in given(calls, "job_template")}
    assert len(attached) == len(AWX_VARS["awx_job_templates"]) + 2  # and the sliced diagnosis' slices and merge
    slack, webhook, pagerduty = "Genesis model_ops Slack", "Genesis model_ops webhook", "Genesis model_ops PagerDuty"
    assert attached.pop("Genesis model_ops diagnose") == ([], [webhook], [slack, webhook, pagerduty])
    # the merge of a sliced diagnosis says the verdict: notified as diagnose is; its slices are not
    assert attached.pop("Genesis model_ops diagnose merge") == ([], [webhook], [slack, webhook, pagerduty])
    assert attached.pop("Genesis model_ops remediate") == ([slack], [slack, webhook], [slack, webhook, pagerduty])
    assert all(events == ([], [], []) for events in attached.values()), attached

    # a rotated secret: awx_notifications_update replaces them
    calls, _output, _secrets = run_against_recorders(tmp_path, dict(NOTIFY, awx_notifications_update=True))
    assert {t["state"] for t in given(calls, "notification_template")} == {"present"}
    # none asked for: none made, none attached
    calls, _output, _secrets = run_against_recorders(tmp_path, {})
    assert not given(calls, "notification_template")
    assert all(jt["notification_templates_" + e] == [] for jt in given(calls, "job_template")
               for e in ("started", "success", "error"))


def test_no_secret_is_written_in_the_awx_playbook():
    # every secret of a notification template (and the Mistral key) is a variable whose default is this machine's
    # environment; nothing that looks like a key, a token or a webhook URL is written anywhere in extensions/awx
    secret_fields = {"url": "awx_slack_webhook_url", "password": "awx_webhook_password", "token": "awx_pagerduty_token",
                     "service_key": "awx_pagerduty_service_key"}
    for template in PLAY["vars"]["awx_notification_templates"]:
        for field, value in template["notification_configuration"].items():
            if field in secret_fields and (field != "url" or template["kind"] == "slack"):
                assert value == "{{ %s }}" % secret_fields[field], (template["kind"], field)
                assert re.fullmatch(r"\{\{ lookup\('ansible\.builtin\.env', 'MODEL_OPS_[A-Z_]+'\) \}\}",
                                    AWX_VARS[secret_fields[field]]), field
    assert [t for t in PLAY["tasks"] if "awx.awx.notification_template" in t][0]["no_log"] is True
    for path in AWX.rglob("*.yml"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"hooks\.slack\.com/services/|xox[abpr]-|[0-9a-f]{32}|[A-Za-z0-9+/]{40,}", text), path


def test_the_slack_message_is_blocks_whatever_the_job_reports():
    # rendered as AWX renders a notification (awx/main/models/notifications.py, build_notification_message: an
    # ImmutableSandboxedEnvironment with ChainableUndefined, over the job's fields, its url and friendly name)
    template = ImmutableSandboxedEnvironment(undefined=ChainableUndefined).from_string(PLAY["vars"]["awx_slack_blocks"])
    job = {"id": 42, "name": "Genesis model_ops remediate", "status": "failed", "limit": "genesis-004",
           "artifacts": {"model_ops_verdict": 'rate_limit "quoted"\nand more', "model_ops_outcome": "failed",
                         "model_ops_scenarios": ["rate_limit", "credentials"]}}
    body = json.loads(template.render(job=job, url="https://awx.example.com/#/jobs/playbook/42", job_friendly_name="Job"))
    assert body["text"] == "Genesis model_ops remediate #42: failed"
    header, section, actions = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Genesis model_ops remediate: failed"}}
    assert [f["text"] for f in section["fields"]] == [
        '*Verdict*\nrate_limit "quoted"\nand more', "*Outcome*\nfailed", "*Scenarios*\nrate_limit, credentials",
        "*Hosts*\ngenesis-004"]
    assert actions["elements"][0]["url"] == "https://awx.example.com/#/jobs/playbook/42"
    # a job that has just started has no artifacts, and no limit
    body = json.loads(template.render(job={"id": 43, "name": "Genesis model_ops diagnose", "status": "running", "limit": ""},
                                      url="u", job_friendly_name="Job"))
    assert [f["text"] for f in body["blocks"][1]["fields"]] == [
        "*Verdict*\n-", "*Outcome*\n-", "*Scenarios*\n-", "*Hosts*\nall of the inventory"]


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
        if q["variable"] in ("approve", "model_ops_auto_approve"):
            assert q["type"] == "multiselect" and q["choices"] == SCENARIOS and q["required"] is False, q


def test_each_survey_asks_what_its_playbook_needs():
    assert question(survey("remediate_rate_limit.yml"), "pct")["default"] == 5
    assert question(survey("rollback.yml"), "pct")["required"] is False  # pct and/or use_finetuned
    assert question(survey("remediate_credentials.yml"), "mistral_api_key")["type"] == "password"
    assert question(survey("remediate_credentials.yml"), "mistral_api_key")["required"] is True
    remediate = survey("remediate.yml")
    assert {q["variable"] for q in remediate["spec"]} == {"approve", "model_ops_auto_approve", "max_hosts", "dry_run", "pct"}
    # unanswered, the playbook's own default applies (AWX would send a default as one newline-separated string)
    assert "default" not in question(remediate, "model_ops_auto_approve")
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


def workflow(nodes_var):
    """A workflow's nodes as the play makes them: ({identifier: node}, {(identifier, link kind): targets}), after
    checking that every node is created before a node that leads to it is linked."""
    nodes = {}
    for node in PLAY["vars"][nodes_var]:
        nodes.setdefault(node["identifier"], {}).update(node)
    links = {(identifier, kind): node[kind] for identifier, node in nodes.items()
             for kind in ("success_nodes", "failure_nodes", "always_nodes") if kind in node}
    order = [node["identifier"] for node in PLAY["vars"][nodes_var]]
    for (identifier, _kind), targets in links.items():
        for target in targets:
            assert order.index(target) < max(i for i, name in enumerate(order) if name == identifier)
    return nodes, links


def test_the_workflow_is_diagnose_approval_remediate_diagnose():
    workflow_task = task("awx.awx.workflow_job_template")
    assert workflow_task["ask_limit_on_launch"] is True and workflow_task["survey_enabled"] is True
    nodes, links = workflow("awx_workflow_nodes")
    # a person is asked only when the diagnosis is not healthy (fail_on=unhealthy fails the job)
    assert links == {("diagnose", "failure_nodes"): ["approve"], ("approve", "success_nodes"): ["remediate"],
                     ("remediate", "always_nodes"): ["diagnose_after"]}
    assert "job_template" not in nodes["approve"] and set(nodes["approve"]["approval"]) == {"name", "description", "timeout"}
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


def test_the_sliced_workflow_diagnoses_in_slices_then_merges_before_and_after_the_remediation(tmp_path):
    nodes, links = workflow("awx_sliced_workflow_nodes")
    # the merge fails unless healthy (fail_on=unhealthy): only then is a person asked
    assert links == {("slices", "success_nodes"): ["merge"], ("merge", "failure_nodes"): ["approve"],
                     ("approve", "success_nodes"): ["remediate"], ("remediate", "always_nodes"): ["slices_after"],
                     ("slices_after", "success_nodes"): ["merge_after"]}
    for identifier in ("merge", "merge_after"):
        assert nodes[identifier]["job_template"] == "{{ awx_jt_diagnose_merge }}"
        accepted_by("diagnose.yml", {k: resolve(v) for k, v in nodes[identifier]["extra_data"].items()})
    for identifier in ("slices", "slices_after"):
        assert nodes[identifier]["job_template"] == "{{ awx_jt_diagnose_slices }}" and "extra_data" not in nodes[identifier]
    assert resolve(nodes["remediate"]["extra_data"]["approve"]) == SCENARIOS
    # what reaches AWX: both job templates run diagnose.yml, one sliced into awx_diagnose_slices jobs handing their
    # evidence on, the other merging it; the key's credential on both
    calls, _output, _secrets = run_against_recorders(tmp_path, {"awx_diagnose_slices": 8})
    sent = {jt["name"]: jt for jt in given(calls, "job_template")}
    slices, merge = sent["Genesis model_ops diagnose slices"], sent["Genesis model_ops diagnose merge"]
    assert (slices["playbook"], slices["job_slice_count"], slices["extra_vars"]) == ("diagnose.yml", 8, {"model_ops_stage": "gather"})
    assert (merge["playbook"], merge["job_slice_count"], merge["extra_vars"]) == ("diagnose.yml", 1, {"model_ops_stage": "merge"})
    for jt in (slices, merge):
        assert jt["credentials"] == ["Genesis model_ops Mistral API key"] and jt["survey_spec"] == survey("diagnose.yml")
    workflows = [w["name"] for w in given(calls, "workflow_job_template")]
    assert workflows == ["Genesis model_ops diagnose, approve, remediate", "Genesis model_ops sliced diagnose, approve, remediate"]
    sliced_nodes = [n for n in given(calls, "workflow_job_template_node") if n["workflow_job_template"] == workflows[1]]
    assert [n["identifier"] for n in sliced_nodes] == [node["identifier"] for node in PLAY["vars"]["awx_sliced_workflow_nodes"]]


def test_diagnose_runs_every_5_minutes():
    schedule = task("awx.awx.schedule")
    rrule = resolve(schedule["rrule"])
    assert re.fullmatch(r"DTSTART:\d{8}T\d{6}Z RRULE:FREQ=MINUTELY;INTERVAL=5", rrule), rrule
    assert schedule["unified_job_template"] == "{{ awx_jt_diagnose }}"
    accepted_by("diagnose.yml", resolve(schedule["extra_data"]))
