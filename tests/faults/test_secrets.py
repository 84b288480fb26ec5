# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets, many times over: keys with surrounding whitespace, newlines and non-ASCII characters; env files,
configs, logs and URLs holding other credentials. Every module that can see one is run on them (result, check
mode, --diff, audit line, backup-free outputs), then a playbook through ansible-runner at -vvvv with --diff (what
AWX stores as job events): no secret, and no 12-character piece of one, may show anywhere."""

from __future__ import annotations

import base64
import http.server
import json
import os
import pathlib
import random
import shutil
import string
import tempfile

import ansible_runner
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.genesis.model_ops.plugins.modules import (
    api_key, file_restore, finetuned_toggle, host_evidence, log_scan, mistral_check, model_health, prometheus_query,
    rollout_set)
from tests.integration.test_mistral_check import Simulator
from tests.unit.helpers import http_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, 'tests', 'unit', 'plugins', 'module_utils', 'fixtures', 'production.yaml')
TRIALS = 30
# How a key reaches a module: as typed, from `ansible-vault encrypt_string` on stdin, pasted from Windows, ...
KEY_FORMS = [lambda k: k, lambda k: k + '\n', lambda k: ' %s ' % k, lambda k: '\t%s\r\n' % k, lambda k: k + ' \n\n']


def secret(rng, length=32):
    return ''.join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


def pieces(value):
    """Every 12-character piece of a secret: a prefix, a suffix or a middle shown is a leak too."""
    return {value[i:i + 12] for i in range(len(value) - 11)}


class Leaks:
    """Counts the texts scanned and every secret piece found in them, by where it was found."""

    def __init__(self):
        self.scanned, self.found = 0, []

    def scan(self, where, text, secrets):
        """secrets: {name: value}; a find is recorded by the secret's name, never its value."""
        self.scanned += 1
        for name, value in secrets.items():
            if any(piece in text for piece in pieces(value)):
                self.found.append('%s: %s' % (where, name))


def with_basic_auth(secrets):
    """The secrets, and the Basic authentication header values made of the URL passwords."""
    return dict(secrets, **{'%s_basic' % name: base64.b64encode(('genesis:%s' % secrets[name]).encode()).decode()
                            for name in ('basic', 'db')})


def run(module, args, capsys, check=False, diff=True):
    with patch_module_args(dict(args, _ansible_check_mode=check, _ansible_diff=diff)):
        with pytest.raises(SystemExit):
            module.main()
    return capsys.readouterr().out


class Echo(http.server.BaseHTTPRequestHandler):
    """A hostile endpoint: it answers every request with its headers (Authorization included) in the body."""

    def do_GET(self):  # noqa: N802 (the standard library's name)
        body = ('<html><body>unauthorized: %s %s</body></html>' % (self.path, dict(self.headers))).encode()
        self.send_response(401 if 'health' in self.path else 200)
        self.send_header('Content-Type', 'text/html')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope='module')
def sim():
    state = tempfile.mkdtemp(prefix='genesis-faults-sim-')
    simulator = Simulator(pathlib.Path(state))
    yield simulator
    simulator.stop()
    shutil.rmtree(state, ignore_errors=True)


def host_files(folder, rng):
    """An app root and env file holding the key and other credentials; (paths, the secrets they hold)."""
    secrets = {name: secret(rng) for name in ('key', 'old_key', 'db', 'hf', 'hook', 'dsn', 'basic')}
    root = os.path.join(folder, 'app')
    for sub in ('infrastructure/config', 'logs/finetuning', 'run'):
        os.makedirs(os.path.join(root, sub))
    env = os.path.join(folder, 'genesis.env')
    with open(env, 'w', encoding='utf-8') as handle:
        handle.write('# MISTRAL_API_KEY=%(old_key)s  (the key before the last rotation)\nMISTRAL_API_KEY=%(key)s\n'
                     'DB_PASSWORD=%(db)s\nexport HF_TOKEN="%(hf)s"\n'
                     'ALERT_WEBHOOK=https://hooks.slack.com/services/T0000/B0000/%(hook)s\n'
                     'DATABASE_URL=postgres://genesis:%(dsn)s@db.internal:5432/genesis\n' % secrets)
    config = os.path.join(root, 'infrastructure', 'config', 'production.yaml')
    with open(FIXTURE, encoding='utf-8') as handle:
        text = handle.read()
    with open(config, 'w', encoding='utf-8') as handle:
        handle.write(text + '\nnotifications:\n  webhook: https://hooks.slack.com/services/T0000/B0000/%(hook)s\n'
                     '  authorization: Basic %(basic)s\ndatabase:\n  dsn: postgres://genesis:%(dsn)s@db:5432/x\n'
                     '  password: %(db)s\n' % secrets)
    log = os.path.join(root, 'logs', 'finetuning', 'model_calls.log')
    with open(log, 'w', encoding='utf-8') as handle:
        for line in ('status=401 error="Unauthorized" request_headers="Authorization: Bearer %(key)s"',
                     'status=401 error="Invalid api_key=%(key)s"', 'status=429 error="rate limited" token=%(hf)s',
                     'status=500 error="db down" url=postgres://genesis:%(dsn)s@db.internal/genesis',
                     'status=401 error="hook https://hooks.slack.com/services/T0000/B0000/%(hook)s"'):
            handle.write('2099-01-01T00:00:00.000Z ERROR agent=qa_agent model=ft:open-mistral-7b:x:y:z %s\n'
                         % (line % secrets))
    return dict(root=root, env=env, config=config, log=log), secrets


def module_outputs(folder, rng, form, sim, echo_url, capsys):
    """[(where, text)] of every module run on one trial's files, and the secrets they hold."""
    files, secrets = host_files(folder, rng)
    new_key = secret(rng)
    secrets['new_key'] = new_key
    audit = os.path.join(folder, 'audit.jsonl')
    outputs = []
    edit = dict(audit_log=audit, audit_context={'playbook': 'faults'})
    for check in (True, False):
        mode = 'check' if check else 'run'
        outputs.append(('api_key %s' % mode, run(api_key, dict(
            value=form(new_key), path=files['env'], backup=True, **edit), capsys, check=check)))
        outputs.append(('rollout_set %s' % mode, run(rollout_set, dict(
            percentage=5, path=files['config'], backup=True, **edit), capsys, check=check)))
        outputs.append(('finetuned_toggle %s' % mode, run(finetuned_toggle, dict(
            enabled=False, agent='qa_agent', path=files['config'], **edit), capsys, check=check)))
    backups = sorted(name for name in os.listdir(os.path.dirname(files['config'])) if name.endswith('.bak'))
    outputs.append(('file_restore', run(file_restore, dict(
        path=files['config'], backup=os.path.join(os.path.dirname(files['config']), backups[0])), capsys)))
    outputs.append(('log_scan', run(log_scan, dict(path_glob=files['log'], lines=100, samples=10), capsys)))
    outputs.append(('host_evidence', run(host_evidence, dict(
        app_root=files['root'], env_file=files['env'], health_url=echo_url.replace('//', '//genesis:%s@' % secrets['basic']),
        log_minutes=10 ** 6), capsys)))
    outputs.append(('model_health', run(model_health, dict(
        url=echo_url.replace('//', '//genesis:%s@' % secrets['basic']), timeout=5), capsys)))
    outputs.append(('prometheus_query', run(prometheus_query, dict(
        url=echo_url.replace('//', '//genesis:%s@' % secrets['db']), query='up', timeout=5), capsys)))
    # the API: the key the simulator knows (accepted once stripped), one it does not, one that cannot be a header
    for name, key in (('known', form(sim.keys['fleet'])), ('unknown', form(new_key)), ('not a header', new_key + 'é\x00')):
        outputs.append(('mistral_check %s key' % name, run(mistral_check, dict(
            api_key=key, server_url=sim.url, models=['open-mistral-7b'], timeout=10, retries=0), capsys)))
    secrets['fleet'] = sim.keys['fleet']
    secrets = with_basic_auth(secrets)
    with open(audit, encoding='utf-8') as handle:
        outputs.append(('the audit log', handle.read()))
    return outputs, secrets


def test_no_secret_shows_in_any_module_output(tally, sim, capsys):
    rng = random.Random(20261130)
    leaks, refused, stripped = Leaks(), 0, 0
    with http_server(Echo) as echo_url:
        for trial in range(TRIALS):
            folder = tempfile.mkdtemp(prefix='genesis-faults-secrets-')
            try:
                outputs, secrets = module_outputs(folder, rng, KEY_FORMS[trial % len(KEY_FORMS)], sim, echo_url, capsys)
                for where, text in outputs:
                    leaks.scan('trial %d, %s' % (trial, where), text, secrets)
                refused += '"failed": true' in outputs[-2][1]
                # the key as the service reads it: stripped, whatever form it was given in (no assert that would
                # print the file)
                with open(os.path.join(folder, 'genesis.env'), encoding='utf-8') as handle:
                    stripped += '\nMISTRAL_API_KEY=%s\n' % secrets['new_key'] in handle.read()
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    tally.record('secrets in module results, check mode, diffs, audit lines (keys with whitespace, newlines, '
                 'non-ASCII; other credentials in env file, config, logs, URLs)', leaks.scanned, len(leaks.found),
                 rounds=TRIALS, modules=9, leaks=len(leaks.found), key_not_a_header_refused=refused)
    assert (leaks.found, refused, stripped) == ([], TRIALS, TRIALS)


PLAYBOOK = """
- name: Everything that handles a secret, at -vvvv with --diff
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Set the key
      genesis.model_ops.api_key:
        value: "{{ new_key }}"
        path: "{{ files.env }}"
        backup: true
        audit_log: "{{ audit }}"
    - name: Change the config
      genesis.model_ops.rollout_set:
        percentage: 5
        path: "{{ files.config }}"
        audit_log: "{{ audit }}"
    - name: Scan the log
      genesis.model_ops.log_scan:
        path_glob: "{{ files.log }}"
        lines: 100
    - name: Gather the host's evidence
      genesis.model_ops.host_evidence:
        app_root: "{{ files.root }}"
        env_file: "{{ files.env }}"
        health: false
        log_minutes: 1000000
    - name: Check the key with the API
      genesis.model_ops.mistral_check:
        api_key: "{{ new_key }}"
        server_url: "{{ server_url }}"
        models: [open-mistral-7b]
        retries: 0
      failed_when: false
"""


def test_no_secret_shows_in_awx_job_events_at_vvvv(tally, sim):
    """ansible-runner (what AWX runs a job with) at -vvvv and --diff: stdout, every event, the artifacts."""
    rng = random.Random(7)
    leaks, events = Leaks(), 0
    trials = 3
    for trial in range(trials):
        folder = tempfile.mkdtemp(prefix='genesis-faults-secrets-')
        try:
            files, secrets = host_files(folder, rng)
            secrets['new_key'] = secret(rng)
            project = os.path.join(folder, 'project')
            os.makedirs(project)
            with open(os.path.join(project, 'secrets.yml'), 'w', encoding='utf-8') as handle:
                handle.write(PLAYBOOK)
            private = os.path.join(folder, 'runner')
            os.makedirs(private)
            runner = ansible_runner.run(
                private_data_dir=private, playbook='secrets.yml', project_dir=project, inventory='localhost,',
                extravars=dict(files=files, new_key=KEY_FORMS[trial + 1](secrets['new_key']),
                               audit=os.path.join(folder, 'audit.jsonl'), server_url=sim.url,
                               ansible_connection='local', ansible_python_interpreter=os.path.join(ROOT, '.venv', 'bin', 'python')),
                cmdline='--diff', verbosity=4, quiet=True,
                envvars={'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.collections'), 'ANSIBLE_NOCOLOR': '1',
                         'PATH': os.path.join(ROOT, '.venv', 'bin') + os.pathsep + os.environ.get('PATH', '')})
            stdout = runner.stdout.read()
            assert runner.rc == 0, stdout[-3000:]
            assert 'ESTABLISH LOCAL CONNECTION' in stdout  # really -vvvv
            assert 'MISTRAL_API_KEY=<sha256:' in stdout  # the diff was shown
            with open(files['env'], encoding='utf-8') as handle:
                assert '\nMISTRAL_API_KEY=%s\n' % secrets['new_key'] in handle.read(), 'the key was not set as given'
            shown = with_basic_auth(secrets)
            leaks.scan('trial %d stdout' % trial, stdout, shown)
            for event in runner.events:
                events += 1
                leaks.scan('trial %d event %s' % (trial, event.get('event')), json.dumps(event), shown)
            for base, _dirs, names in os.walk(os.path.join(private, 'artifacts')):
                for name in names:
                    if name in ('extravars', 'command'):  # the input: what AWX holds as the job's variables
                        continue
                    with open(os.path.join(base, name), encoding='utf-8', errors='replace') as handle:
                        leaks.scan('trial %d artifact %s' % (trial, name), handle.read(), shown)
            with open(os.path.join(folder, 'audit.jsonl'), encoding='utf-8') as handle:
                leaks.scan('trial %d audit log' % trial, handle.read(), shown)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    tally.record('secrets in AWX job events via ansible-runner (-vvvv, --diff: stdout, events, artifacts, audit log)',
                 leaks.scanned, len(leaks.found), runs=trials, events=events, leaks=len(leaks.found))
    assert leaks.found == []
