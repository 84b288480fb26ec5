# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every number option of every module, given what is not a number of its range: a clear failure naming the
option and the value, and the file it would edit unchanged."""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import os
import shutil
import subprocess
import time
import urllib.parse

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.genesis.model_ops.plugins.modules import (
    api_key, file_restore, finetuned_toggle, host_evidence, log_scan, model_health, orchestrator_service,
    prometheus_query, rollout_set, run_lock)
from tests.unit.helpers import http_server, run_module, run_module_as, trickle_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'unit', 'plugins', 'module_utils', 'fixtures',
                       'production.yaml')
BAD = [' 5 ', '+5', '٣', '5\n', '', 'nan', 'inf', '-inf', '1e3', 'abc', -1, True, [5], {'a': 5}, '9' * 400]
# (module, option, its other arguments; {config} and {folder} are the test's files)
OPTIONS = [
    (rollout_set, 'percentage', {'path': '{config}'}),
    (rollout_set, 'lock_timeout', {'path': '{config}', 'percentage': 5}),
    (finetuned_toggle, 'lock_timeout', {'path': '{config}', 'enabled': False}),
    (api_key, 'lock_timeout', {'path': '{env}', 'value': 'k' * 32}),
    (file_restore, 'lock_timeout', {'path': '{config}', 'backup': '{config}'}),
    (run_lock, 'lease', {'run_id': 'r', 'path': '{folder}/model_ops.lock'}),
    (run_lock, 'timeout', {'run_id': 'r', 'path': '{folder}/model_ops.lock'}),
    (orchestrator_service, 'stop_timeout', {'app_root': '{folder}', 'manager': 'process'}),
    (orchestrator_service, 'start_timeout', {'app_root': '{folder}', 'manager': 'process'}),
    (model_health, 'timeout', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'wait_timeout', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'wait_interval', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'concurrency', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'error_rate_threshold', {'url': 'http://127.0.0.1:9'}),
    (log_scan, 'lines', {'path_glob': '{folder}/*.log'}),
    (log_scan, 'max_bytes', {'path_glob': '{folder}/*.log'}),
    (host_evidence, 'recent_s', {'app_root': '{folder}'}),
    (prometheus_query, 'timeout', {'url': 'http://127.0.0.1:9', 'query': 'up'}),
]
CASES = [(module, option, args, value) for module, option, args in OPTIONS for value in BAD]


def fill(value, files):
    if isinstance(value, str):
        return value.format(**files)
    if isinstance(value, list):
        return [fill(item, files) for item in value]
    return value


@pytest.fixture
def files(tmp_path):
    shutil.copy(FIXTURE, tmp_path / 'production.yaml')
    (tmp_path / 'genesis.env').write_text('MISTRAL_API_KEY=old\n', encoding='utf-8')
    return {'config': str(tmp_path / 'production.yaml'), 'env': str(tmp_path / 'genesis.env'), 'folder': str(tmp_path)}


def snapshot(folder):
    """{path: bytes (None for a folder)} of everything below folder."""
    tree = {}
    for base, dirs, names in os.walk(folder):
        tree.update({os.path.join(base, name): None for name in dirs})
        for name in names:
            with open(os.path.join(base, name), 'rb') as handle:
                tree[os.path.join(base, name)] = handle.read()
    return tree


def test_every_bad_number_is_named_and_changes_nothing(files, capsys, tally):
    assert len(CASES) >= 150
    unclear, changed, accepted = [], 0, []
    for module, option, args, value in CASES:
        before = snapshot(files['folder'])
        with patch_module_args(dict({key: fill(item, files) for key, item in args.items()}, **{option: value})):
            with pytest.raises(SystemExit) as exit_info:
                module.main()
        result = json.loads(capsys.readouterr().out)
        name = '%s %s=%r' % (module.__name__.rsplit('.', 1)[1], option, value)
        if exit_info.value.code != 1:
            accepted.append(name)
        elif not result['msg'].startswith('%s=' % option) or not any(shown[:20] in result['msg'] for shown in (str(value), repr(value))):
            unclear.append('%s: %s' % (name, result['msg'][:200]))
        changed += snapshot(files['folder']) != before
    tally.record('bad number inputs (every number option of every module)', len(CASES),
                 len(unclear) + changed + len(accepted), modules=len({case[0] for case in CASES}),
                 accepted=len(accepted), unclear_message=len(unclear), file_changed=changed)
    assert (accepted, unclear, changed) == ([], [], 0), '\n'.join(accepted + unclear)


# Playbook variables, as a user gives them (-e @file keeps each value's type): (playbook, variables, what the
# message must name). The inventory's one host does not exist: a run that got past its checks says UNREACHABLE.
BAD_COUNTS = ['abc', '0', '0%', '101%', '-1', ' 2 ', '', '2.5', '٣', '10%%', [1, 2]]
BAD_PCTS = ['abc', 150, -1, ' 5 ', '+5', '٣', '', 5.5, '1e2', True, '5\n']
PLAYBOOK_CASES = (
    [('rollback', {'pct': value}, 'pct=') for value in BAD_PCTS]
    + [('remediate_rate_limit', {'pct': value}, 'pct=') for value in BAD_PCTS]
    + [('rollback', {'use_finetuned': value}, 'use_finetuned=') for value in ('maybe', '', 2, 'off-ish')]
    + [(playbook, {'pct': 0, 'model_ops_serial': value}, 'model_ops_serial=')
       for playbook in ('rollback', 'remediate_rate_limit') for value in BAD_COUNTS]
    + [('remediate', {'approve': value}, 'approve=') for value in ('bogus', 'rate_limit"; touch pwned; "', 'RATE_LIMIT', 'rate_limit,,bogus')]
    + [('remediate', {'model_ops_auto_approve': value}, 'model_ops_auto_approve=') for value in ('everything', 'rollback')]
    + [('diagnose', {'model_ops_probe': value}, 'model_ops_probe=') for value in ('both', '', 'HOST')]
    + [('diagnose', {'fail_on': value}, 'fail_on=') for value in ('always', 'degraded')]
    + [('preflight', {'model_ops_preflight_deprecation_days': value}, 'model_ops_preflight_deprecation_days=')
       for value in ('-1', 'soon', '1.5')]
    + [('preflight', {'config_file': '/nonexistent/production.yaml'}, 'config_file=/nonexistent/production.yaml')]
)


def run_playbook_with(folder, number, playbook, variables):
    extra = os.path.join(folder, 'vars-%d.json' % number)
    with open(extra, 'w', encoding='utf-8') as handle:
        json.dump(variables, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_HOST_KEY_CHECKING='False', MISTRAL_API_KEY='k' * 32)
    env.pop('ANSIBLE_CONFIG', None)
    return subprocess.run([os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook'), '-i', 'inventory.yml',
                           'genesis.model_ops.%s' % playbook, '-e', '@' + extra],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_every_bad_playbook_variable_is_named_and_touches_no_host(tmp_path, tally):
    """From an empty folder, with an inventory of one host that cannot be reached: each bad value stops the
    run in its checks, with a message naming the variable and the value; no host is ever contacted."""
    assert len(PLAYBOOK_CASES) >= 60
    (tmp_path / 'inventory.yml').write_text(
        'genesis:\n  hosts:\n    genesis-x:\n      ansible_host: 127.0.0.254\n      ansible_port: 1\n'
        '      genesis_health_url: http://127.0.0.254:1\n', encoding='utf-8')
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        procs = list(pool.map(lambda case: run_playbook_with(str(tmp_path), case[0], *case[1][:2]),
                              enumerate(PLAYBOOK_CASES)))
    accepted, unclear, contacted, crashed = [], [], [], []
    for (playbook, variables, named), proc in zip(PLAYBOOK_CASES, procs):
        name = '%s %s' % (playbook, json.dumps(variables, ensure_ascii=False))
        out = proc.stdout + proc.stderr
        if 'Unexpected Exception' in out or 'Traceback' in out:
            crashed.append(name)
        elif proc.returncode == 0:
            accepted.append(name)
        elif 'UNREACHABLE' in out:
            contacted.append(name)
        elif named not in out:
            unclear.append('%s: %s' % (name, out[-400:]))
    tally.record('bad playbook variables (every playbook, from an empty folder)', len(PLAYBOOK_CASES),
                 len(accepted) + len(unclear) + len(contacted) + len(crashed),
                 playbooks=len({case[0] for case in PLAYBOOK_CASES}), accepted=len(accepted),
                 host_contacted=len(contacted), traceback=len(crashed), unclear_message=len(unclear))
    assert (accepted, contacted, crashed, unclear) == ([], [], [], []), '\n'.join(accepted + contacted + crashed + unclear)


GOOD_YAML = open(FIXTURE, encoding='utf-8').read()
BAD_CONFIGS = {
    'empty': b'', 'only a comment': b'# nothing here\n', 'unclosed flow': b'models: {use_finetuned: true\n',
    'a tab for indentation': b'models:\n\tuse_finetuned: true\n', 'binary': b'\xff\xfe\x00\x01garbage\x00',
    'a list': b'- models\n- agents\n', 'models a number': b'models: 5\n', 'models a string': b'models: fine-tuned\n',
    'not UTF-8': b'models:\n  use_finetuned: "\xe9t\xe9"\n', 'huge garbage': b'{' * (2 * 1024 * 1024),
    'two documents': GOOD_YAML.encode() + b'\n---\nmodels: {}\n', 'an alias bomb': b'a: &a [x, x]\nb: &b [*a, *a]\nmodels: *b\n',
}


def bad_paths(tmp_path):
    """{what: path} of files that are not there or cannot be one."""
    (tmp_path / 'afile').write_text('x', encoding='utf-8')
    (tmp_path / 'adir').mkdir()
    return {'missing': str(tmp_path / 'nowhere' / 'production.yaml'), 'a folder': str(tmp_path / 'adir'),
            'under a file': str(tmp_path / 'afile' / 'production.yaml')}


def edit_cases(path, backup):
    """(module, args) of every editor pointed at path, and file_restore restoring path over a good file when path
    is not a YAML mapping (a mapping is what the file was when it was backed up: put back as it was)."""
    cases = [(rollout_set, {'path': path, 'percentage': 5}), (finetuned_toggle, {'path': path, 'enabled': False}),
             (finetuned_toggle, {'path': path, 'enabled': False, 'agent': 'qa_agent'})]
    try:
        with open(path, 'rb') as handle:
            mapping = isinstance(yaml.safe_load(handle.read().decode('utf-8')), dict)
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        mapping = False
    return cases if mapping else cases + [(file_restore, {'path': backup, 'backup': path})]


def test_every_bad_file_is_named_and_changes_nothing(tmp_path, capsys, tally):
    """Configs that do not parse or are not the contract's, paths that are no file, a file the user cannot read:
    each editor fails naming the file, and changes nothing; host_evidence reports it as a finding naming it."""
    good = tmp_path / 'good.yaml'
    good.write_text(GOOD_YAML, encoding='utf-8')
    cases = []
    for what, data in BAD_CONFIGS.items():
        path = tmp_path / ('bad-%d.yaml' % len(cases))
        path.write_bytes(data)
        cases += [('%s config' % what, str(path), module, args) for module, args in edit_cases(str(path), str(good))]
    for what, path in bad_paths(tmp_path).items():
        cases += [('%s config' % what, path, module, args) for module, args in edit_cases(path, str(good))]
        cases.append(('%s env file' % what, path, api_key, {'path': path, 'value': 'k' * 32}))
    unclear, changed, accepted, crashed, evidence_silent = [], 0, [], [], []
    for what, path, module, args in cases:
        before = snapshot(str(tmp_path))
        try:
            code, result, _out = run_module(module.main, args, capsys)
        except Exception as exc:  # pylint: disable=broad-except
            crashed.append('%s %s: %r' % (module.__name__, what, exc))
            continue
        name = '%s on a %s' % (module.__name__.rsplit('.', 1)[1], what)
        if code != 1:
            accepted.append(name)
        elif path not in result['msg'] and os.path.basename(path) not in result['msg']:
            unclear.append('%s: %s' % (name, result['msg'][:200]))
        changed += snapshot(str(tmp_path)) != before
        # the read-only side: host_evidence says what is wrong with the file, naming it
        if module is rollout_set:
            code, result, _out = run_module(host_evidence.main, {'app_root': str(tmp_path), 'config_path': path,
                                                                 'health': False, 'logs': False}, capsys)
            if code != 0 or not any(path in item['message'] for item in result['findings']):
                evidence_silent.append('host_evidence on a %s: %s' % (what, [f['message'] for f in result['findings']]))
    # a config the user the module runs as cannot read (root-owned, mode 0600; the run connects as nobody)
    private = tmp_path / 'private'
    private.mkdir(mode=0o755)
    locked = private / 'production.yaml'
    locked.write_text(GOOD_YAML, encoding='utf-8')
    os.chmod(locked, 0o600)
    for module, args in edit_cases(str(locked), str(good))[:3]:
        before = locked.read_bytes()
        code, result = run_module_as(65534, module.main, args)
        cases.append(('unreadable config', str(locked), module, args))
        if code != 1 or str(locked) not in result.get('msg', ''):
            unclear.append('%s on an unreadable config: %s' % (module.__name__, result))
        changed += locked.read_bytes() != before
    tally.record('bad files (configs that do not parse or break the contract, no file, a folder, unreadable)',
                 len(cases), len(unclear) + changed + len(accepted) + len(crashed) + len(evidence_silent),
                 accepted=len(accepted), traceback=len(crashed), unclear_message=len(unclear), file_changed=changed,
                 evidence_without_finding=len(evidence_silent))
    assert (accepted, crashed, unclear, changed, evidence_silent) == ([], [], [], 0, [])


BAD_BODIES = {
    'HTML': (200, b'<html><body><h1>502 Bad Gateway</h1></body></html>'),
    'truncated JSON': (200, b'{"status": "ok", "agents": {"qa_agent": {"status": "o'),
    'a JSON list': (200, b'["ok"]'), 'JSON null': (200, b'null'), 'an empty body': (200, b''),
    'not UTF-8': (200, b'{"status": "\xff\xfe"}'), 'status a number': (200, b'{"status": 5, "agents": []}'),
    'agents a string': (200, b'{"status": "ok", "agents": "all fine"}'),
    'a huge body': (200, b'{"status": "ok", "pad": "' + b'x' * (3 * 1024 * 1024) + b'"}'),
    'a deep body': (200, b'[' * 100000 + b']' * 100000),
    'HTML with 500': (500, b'<html>Internal Server Error</html>'), 'JSON with 503': (503, b'{"status": "down"}'),
}


class BodyHandler(http.server.BaseHTTPRequestHandler):
    """Answers /<case>/... with BAD_BODIES[case]."""

    def do_GET(self):  # noqa: N802 (the standard library's name)
        status, body = BAD_BODIES[urllib.parse.unquote(self.path.split('/')[1])]
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def said(health):
    """A health result that says what was wrong: not ok, or ok as the service says with the field that is not
    the contract's named (agents: "all fine")."""
    named = [f for f in health['findings'] if f['code'] == 'missing_field' and f['evidence']['field'] in f['message']]
    return health['findings'] and (health['status'] != 'ok' or named)


def test_every_bad_body_is_named_within_the_deadline(capsys, tally):
    """Health endpoints and Prometheus answering what is not theirs, or trickling it byte by byte: a result that
    names the URL and is not healthy, no traceback, within the timeout asked for (plus 3 s, for a loaded machine)."""
    cases, bad = 0, []
    with http_server(BodyHandler) as base, trickle_server(delay=0.3) as slow, trickle_server(delay=0.3, trickle_head=True) as slower:
        urls = {what: '%s/%s' % (base, urllib.parse.quote(what)) for what in BAD_BODIES}
        urls.update({'a trickled body': slow, 'a trickled status line': slower})
        for what, url in urls.items():
            # (module, its arguments, what a failure's message must name, what a result must say)
            for module, args, named, judge in (
                    # the probe's result names its URL; each finding names the field and the value, or the URL
                    (model_health, {'url': url, 'timeout': 2}, url, lambda r: r['url'] == url and said(r)),
                    (model_health, {'targets': [{'name': 'genesis-x', 'url': url}], 'timeout': 1.5, 'wait': True,
                                    'wait_timeout': 2}, 'not healthy after 2s: genesis-x',
                     lambda r: said(r['hosts']['genesis-x'])),
                    (prometheus_query, {'url': url, 'timeout': 2}, url,
                     lambda r: not r['available'] and any(url in f['message'] for f in r['findings']))):
                cases += 1
                name = '%s %s on %s' % (module.__name__.rsplit('.', 1)[1], sorted(args), what)
                started = time.monotonic()
                try:
                    code, result, _out = run_module(module.main, args, capsys)
                except Exception as exc:  # pylint: disable=broad-except
                    bad.append('%s: %r' % (name, exc))
                    continue
                took = time.monotonic() - started
                limit = (args.get('wait_timeout') or args['timeout']) + 3  # a trickled answer in full: 9 s or more
                if took > limit:
                    bad.append('%s: %.1fs, over %ss' % (name, took, limit))
                elif code != 0 and not (code == 1 and named in result.get('msg', '')):
                    bad.append('%s: rc %s %s' % (name, code, result.get('msg')))
                elif code == 0 and not judge(result):
                    bad.append('%s: %s' % (name, json.dumps(result)[:300]))
    tally.record('bad answers from health endpoints and Prometheus (not JSON, wrong shapes, huge, deep, trickled)',
                 cases, len(bad), bodies=len(urls))
    assert bad == [], '\n'.join(bad)
