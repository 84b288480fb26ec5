# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for the part of AWX's API that ansible-rulebook 1.3.2's run_job_template and
run_workflow_template call (ansible_rulebook/job_template_runner.py, shared_job_monitor.py): the
connection check (config), the template looked up by name, its launch, the job's status. No AWX can run
here; this is not one (no database, no RBAC, no execution of its own).

Its templates are those extensions/awx/job_templates.yml makes: their names, prompts on launch and surveys.
A launch is taken, refused, or has fields ignored by AWX's own rules, ported from ansible/awx at commit
e21dd0a0933fd544d1fe2513c54fe41203775eb5:
- awx/main/models/mixins.py, SurveyJobTemplateMixin: _survey_element_validation, _accept_or_ignore_variables
  (survey answers validated, other variables taken only with ask_variables_on_launch), _update_unified_job_kwargs
  (the job's variables: survey defaults, then the launch's);
- awx/main/models/jobs.py, JobTemplate._accept_or_ignore_job_kwargs: a field such as limit is taken only when the
  template prompts for it on launch;
- awx/api/serializers.py, JobLaunchSerializer.validate: _exclude_errors=['prompts'], so an ignored field does not
  block the launch (it is listed in the answer's ignored_fields), a survey error does (HTTP 400).
A taken launch is handed to ``run_job`` (the test runs the playbook as AWX runs a job, with ansible-runner);
without it, the job is reported successful at once."""

from __future__ import annotations

import http.server
import itertools
import json
import re
import threading
import urllib.parse
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
AWX = ROOT / "extensions" / "awx"


class _Loader(yaml.SafeLoader):
    """Reads playbooks: Ansible's !unsafe is a plain string here."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path):
    """A YAML file of the project, playbooks included."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)


def templates():
    """{name: template} as job_templates.yml (with vars.yml's defaults) makes them in AWX."""
    awx_vars = load(AWX / "vars.yml")
    play = load(AWX / "job_templates.yml")[0]
    tasks = {}
    for task in play["tasks"]:  # each module's first task (the sliced diagnosis' job templates and workflow come after)
        for module in task:
            if module.startswith("awx.awx."):
                tasks.setdefault(module, task[module])
    prefix = awx_vars["awx_prefix"]

    def prompts(task, survey):
        return {"ask_limit_on_launch": task.get("ask_limit_on_launch", False) is True,
                "ask_variables_on_launch": task.get("ask_variables_on_launch", False) is True,
                "survey_spec": load(AWX / "surveys" / survey) if survey else {}}

    found = {}
    for ident, jt in enumerate(awx_vars["awx_job_templates"], start=1):
        name = "%s %s" % (prefix, Path(jt["playbook"]).stem)
        found[name] = dict(prompts(tasks["awx.awx.job_template"], None if jt["survey"] == "none" else jt["survey"]),
                           id=ident, type="job_template", name=name, playbook=jt["playbook"])
    workflow = tasks["awx.awx.workflow_job_template"]
    name = play["vars"]["awx_workflow_name"].replace("{{ awx_prefix }}", prefix)
    survey = re.search(r"surveys/(\w+\.yml)", workflow["survey_spec"]).group(1)
    found[name] = dict(prompts(workflow, survey), id=100, type="workflow_job_template", name=name, playbook=None)
    return found, awx_vars["awx_organization"]


# --- AWX's rules (the port) ------------------------------------------------------------------------------

def survey_element_validation(survey_element, data, validate_required=True):
    errors = []
    if survey_element['variable'] not in data and survey_element['required']:
        if validate_required:
            errors.append("'%s' value missing" % survey_element['variable'])
    elif survey_element['type'] in ["textarea", "text", "password"]:
        if survey_element['variable'] in data:
            if not isinstance(data[survey_element['variable']], str):
                errors.append("Value %s for '%s' expected to be a string." % (data[survey_element['variable']], survey_element['variable']))
                return errors
    elif survey_element['type'] == 'integer':
        if survey_element['variable'] in data:
            if type(data[survey_element['variable']]) != int:  # noqa: E721 (AWX's own test)  pylint: disable=unidiomatic-typecheck
                errors.append("Value %s for '%s' expected to be an integer." % (data[survey_element['variable']], survey_element['variable']))
                return errors
            if 'min' in survey_element and survey_element['min'] not in ["", None] and data[survey_element['variable']] < int(survey_element['min']):
                errors.append("'%s' value %s is too small (must be at least %s)."
                              % (survey_element['variable'], data[survey_element['variable']], survey_element['min']))
            if 'max' in survey_element and survey_element['max'] not in ["", None] and data[survey_element['variable']] > int(survey_element['max']):
                errors.append("'%s' value %s is too large (must be no more than %s)."
                              % (survey_element['variable'], data[survey_element['variable']], survey_element['max']))
    elif survey_element['type'] == 'multiselect':
        if survey_element['variable'] in data:
            if type(data[survey_element['variable']]) != list:  # noqa: E721  pylint: disable=unidiomatic-typecheck
                errors.append("'%s' value is expected to be a list." % survey_element['variable'])
            else:
                for val in data[survey_element['variable']]:
                    if val not in survey_element['choices']:
                        errors.append("Value %s for '%s' expected to be one of %s." % (val, survey_element['variable'], survey_element['choices']))
    elif survey_element['type'] == 'multiplechoice':
        if survey_element['variable'] in data:
            if data[survey_element['variable']] not in survey_element['choices']:
                errors.append("Value %s for '%s' expected to be one of %s."
                              % (data[survey_element['variable']], survey_element['variable'], survey_element['choices']))
    return errors


def accept_or_ignore_variables(template, data, errors, _exclude_errors=()):
    survey_is_enabled = bool(template["survey_spec"])
    extra_vars = data.copy()
    rejected = {}
    accepted = {}
    if survey_is_enabled:
        survey_errors = []
        for survey_element in template["survey_spec"].get("spec", []):
            key = survey_element.get('variable', None)
            element_errors = survey_element_validation(survey_element, data, validate_required='required' not in _exclude_errors)
            if element_errors:
                survey_errors += element_errors
                if key is not None and key in extra_vars:
                    rejected[key] = extra_vars.pop(key)
            elif key in extra_vars:
                accepted[key] = extra_vars.pop(key)
        if survey_errors:
            errors['variables_needed_to_start'] = survey_errors
    if template["ask_variables_on_launch"]:
        accepted.update(extra_vars)
        extra_vars = {}
    if extra_vars:
        rejected.update(extra_vars)
        if 'prompts' not in _exclude_errors:
            errors['extra_vars'] = ['Variables {} are not allowed on launch.'.format(', '.join(extra_vars))]
    return accepted, rejected, errors


def accept_or_ignore_job_kwargs(template, kwargs, _exclude_errors=('prompts',)):
    prompted_data, rejected_data = {}, {}
    accepted_vars, rejected_vars, errors_dict = accept_or_ignore_variables(template, kwargs.get('extra_vars', {}), {}, _exclude_errors)
    if accepted_vars:
        prompted_data['extra_vars'] = accepted_vars
    if rejected_vars:
        rejected_data['extra_vars'] = rejected_vars
    for field_name, ask_field_name in (("limit", "ask_limit_on_launch"),):
        if field_name not in kwargs or kwargs[field_name] is None:
            continue
        if kwargs[field_name] == "":  # the template's own limit: AWX counts it as neither
            continue
        if template[ask_field_name]:
            prompted_data[field_name] = kwargs[field_name]
        else:
            rejected_data[field_name] = kwargs[field_name]
    return prompted_data, rejected_data, errors_dict


def job_extra_vars(template, runtime_extra_vars):
    """The job's variables (_update_unified_job_kwargs): the survey's valid defaults, then the launch's."""
    extra_vars = {}
    for survey_element in template["survey_spec"].get("spec", []):
        default = survey_element.get('default')
        if default is not None and not survey_element_validation(survey_element, {survey_element['variable']: default}):
            extra_vars[survey_element['variable']] = default
    extra_vars.update(runtime_extra_vars)
    return extra_vars
# (end of the port)


class AwxApi(http.server.ThreadingHTTPServer):
    """The stand-in, on 127.0.0.1 and a free port; ``launches`` records every launch it took or refused."""

    def __init__(self, token, run_job=None):
        self.templates, self.organization = templates()
        self.token = token
        self.run_job = run_job
        self.launches = []
        self.jobs = {}
        self.requests = []
        self._ids = itertools.count(1)
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                api.answer(self, "GET")

            def do_POST(self):  # noqa: N802
                api.answer(self, "POST")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server_address[1]

    def answer(self, request, method):
        url = urllib.parse.urlparse(request.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        body = json.loads(request.rfile.read(int(request.headers.get("Content-Length") or 0)) or b"{}") if method == "POST" else None
        self.requests.append((method, url.path))
        if request.headers.get("Authorization") != "Bearer %s" % self.token:
            return self.send(request, 401, {"detail": "Authentication credentials were not provided."})
        route = (method, re.sub(r"/\d+/", "/<id>/", url.path))
        if route == ("GET", "/api/v2/config/"):
            return self.send(request, 200, {"version": "24.6.1"})
        if route == ("GET", "/api/v2/unified_job_templates/"):
            found = [self.summary(t) for t in self.templates.values() if t["name"] == query.get("name")]
            return self.send(request, 200, {"count": len(found), "next": None, "results": found})
        if route in (("POST", "/api/v2/job_templates/<id>/launch/"), ("POST", "/api/v2/workflow_job_templates/<id>/launch/")):
            ident = int(url.path.split("/")[4])
            template = [t for t in self.templates.values() if t["id"] == ident][0]
            return self.launch(request, template, body)
        if route in (("GET", "/api/v2/jobs/"), ("GET", "/api/v2/workflow_jobs/")):
            ids = [int(i) for i in query.get("id__in", "").split(",") if i]
            return self.send(request, 200, {"count": len(ids), "next": None,
                                            "results": [self.jobs[i] for i in ids if i in self.jobs]})
        return self.send(request, 404, {"detail": "Not found."})

    def summary(self, template):
        kind = "job_templates" if template["type"] == "job_template" else "workflow_job_templates"
        return {"id": template["id"], "type": template["type"], "name": template["name"],
                "summary_fields": {"organization": {"name": self.organization}},
                "related": {"launch": "/api/v2/%s/%d/launch/" % (kind, template["id"])},
                "ask_limit_on_launch": template["ask_limit_on_launch"], "ask_labels_on_launch": False,
                "ask_inventory_on_launch": False, "ask_variables_on_launch": template["ask_variables_on_launch"]}

    def launch(self, request, template, body):
        accepted, ignored, errors = accept_or_ignore_job_kwargs(template, body)
        record = {"template": template["name"], "request": body, "ignored_fields": ignored, "errors": errors}
        self.launches.append(record)
        if errors:
            return self.send(request, 400, errors)
        ident = next(self._ids)
        kind = "jobs" if template["type"] == "job_template" else "workflow_jobs"
        record.update(id=ident, limit=accepted.get("limit", ""),
                      extra_vars=job_extra_vars(template, accepted.get("extra_vars", {})))
        self.jobs[ident] = {"id": ident, "status": "running", "created": "2026-11-29T00:00:00Z", "artifacts": {}}
        if self.run_job and template["playbook"]:
            def run():
                self.jobs[ident]["status"] = "successful" if self.run_job(template, record) else "failed"
            threading.Thread(target=run, daemon=True).start()
        else:
            self.jobs[ident]["status"] = "successful"
        answer = {"id": ident, "url": "/api/v2/%s/%d/" % (kind, ident), "ignored_fields": ignored}
        answer["job" if kind == "jobs" else "workflow_job"] = ident
        return self.send(request, 201, answer)

    @staticmethod
    def send(request, status, body):
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
