# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_evidence's gathering over real files in a temp app root, real processes and a real local HTTP server."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils._evidence import (
    collect, derived_paths, read_audit, read_config, read_key, read_service, recent_changes)
from ansible_collections.genesis.model_ops.plugins.module_utils._health import HealthProbe
from ansible_collections.genesis.model_ops.tests.unit.helpers import http_server

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'production.yaml')
KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'
FINGERPRINT = '3f900fa4'  # sha256(KEY)[:8]
FT = 'ft:open-mistral-7b:587a6b29:20240514:7e773925'


def stamp(seconds_ago=0.0, fmt='%Y-%m-%dT%H:%M:%S.000Z'):
    return (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds_ago)).strftime(fmt)


def codes(findings):
    return sorted(item['code'] for item in findings)


# Root reads a mode 0600 file of anyone; as_unprivileged() then runs the reader as nobody. Others own the file.
UNREADABLE = 0o600 if os.geteuid() == 0 else 0o000


def as_unprivileged(func, *args):
    """func(*args) in a process that cannot read a mode 0600 file of another user: as nobody when root."""
    if os.geteuid() != 0:
        return func(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, answer through the pipe, never return into pytest
        try:
            os.close(read_fd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_fd, json.dumps(func(*args)).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, 'rb') as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture
def open_dir():
    """A temp dir anyone may enter (pytest's tmp_path is 0700 to others), for the unreadable-file tests."""
    path = tempfile.mkdtemp()
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def app_root(tmp_path, sleeper):
    """A Genesis app root as the contract lays it out, its service a live process started a moment ago."""
    root = tmp_path / 'opt' / 'genesis'
    (root / 'infrastructure' / 'config').mkdir(parents=True)
    (root / 'logs' / 'finetuning').mkdir(parents=True)
    (root / 'run').mkdir()
    config = root / 'infrastructure' / 'config' / 'production.yaml'
    shutil.copy(FIXTURE, config)
    old = time.time() - 7200  # deployed two hours ago, before the service started
    os.utime(config, (old, old))
    (root / 'run' / 'genesis-orchestrator.pid').write_text('%d\n' % sleeper.pid)
    (root / 'logs' / 'finetuning' / 'qa_agent.log').write_text(
        '%s ERROR agent=qa_agent model=%s status=429 error="Rate limit exceeded"\n' % (stamp(3600), FT)
        + '%s ERROR agent=qa_agent model=%s status=429 error="Rate limit exceeded"\n' % (stamp(60), FT)
        + '%s INFO agent=qa_agent model=open-mistral-7b fallback=true status=200\n' % stamp(59))
    env = tmp_path / 'genesis.env'
    env.write_text('# the service key\nMISTRAL_API_KEY="%s"\n' % KEY)
    env.chmod(0o600)
    return root


# --- config -------------------------------------------------------------------------------------

def test_config_of_the_fixture_is_normalised(tmp_path):
    config, findings = read_config(FIXTURE, time.time())
    assert findings == [] and config['error'] is None and config['exists'] is True
    assert config['use_finetuned'] is True and config['rollout_percentage'] == 100
    assert config['mtime'].endswith('Z') and config['age_s'] >= 0
    assert sorted(config['agents']) == ['analyst_agent', 'content_agent', 'legal_agent', 'qa_agent', 'support_agent']
    assert config['agents']['qa_agent'] == {'finetuned': FT, 'baseline': 'open-mistral-7b', 'use_finetuned': True}
    assert config['agents']['legal_agent']['use_finetuned'] is False      # the override
    assert config['agents']['support_agent']['use_finetuned'] is True     # absent: true
    assert config['agents']['analyst_agent']['baseline'] == 'open-mistral-7b'  # quoted in the file


@pytest.mark.parametrize('text, code, error', [
    (None, 'config_missing', 'does not exist'),
    ('models: {use_finetuned: true\n  secret_token: hunter2-in-line\n', 'config_invalid', 'not valid YAML'),
    ('server: {port: 8080}\n', 'config_invalid', 'no models: mapping'),
    ('models: [a, b]\n', 'config_invalid', 'models: is not a mapping'),
    ('- just a list\n', 'config_invalid', 'no models: mapping'),
    ('', 'config_invalid', 'no models: mapping'),
    ('models:\n  use_finetuned: true\n  rollout_percentage: 50\n', 'config_invalid', 'models.agents is None'),
])
def test_config_problems_are_findings(tmp_path, text, code, error):
    path = tmp_path / 'production.yaml'
    if text is not None:
        path.write_text(text)
    config, findings = read_config(str(path), time.time())
    assert codes(findings) == [code] and findings[0]['severity'] == 'critical'
    assert config['error'].startswith(error) and config['exists'] is (text is not None)
    assert 'hunter2' not in json.dumps([config, findings])  # a YAML error does not quote the file


def test_config_bad_values(tmp_path):
    path = tmp_path / 'production.yaml'
    path.write_text('models:\n  use_finetuned: maybe\n  rollout_percentage: 150\n  agents:\n'
                    '    qa_agent: {finetuned: %s}\n    support_agent: open-mistral-7b\n'
                    '    legal_agent: {finetuned: %s, baseline: open-mistral-7b, use_finetuned: "no"}\n' % (FT, FT))
    config, findings = read_config(str(path), time.time())
    assert codes(findings) == ['config_invalid'] * 5
    assert {item['evidence']['field'] for item in findings} == {
        'models.use_finetuned', 'models.rollout_percentage', 'models.agents.qa_agent.baseline',
        'models.agents.support_agent', 'models.agents.legal_agent.use_finetuned'}
    assert all(item['severity'] == 'warning' for item in findings)
    assert config['use_finetuned'] is None and config['rollout_percentage'] is None
    assert config['agents'] == {'qa_agent': {'finetuned': FT, 'baseline': None, 'use_finetuned': True},
                                'legal_agent': {'finetuned': FT, 'baseline': 'open-mistral-7b', 'use_finetuned': None}}


def test_config_unreadable(open_dir):
    path = os.path.join(open_dir, 'production.yaml')
    shutil.copy(FIXTURE, path)
    os.chmod(path, UNREADABLE)
    config, findings = as_unprivileged(read_config, path, time.time())
    assert codes(findings) == ['config_unreadable'] and config['exists'] is True
    assert config['error'].startswith('cannot read') and config['agents'] == {}


# --- service --------------------------------------------------------------------------------------

def test_service_of_a_live_process(tmp_path, sleeper):
    pid_file = tmp_path / 'genesis-orchestrator.pid'
    pid_file.write_text('%d\n' % sleeper.pid)
    old = time.time() - 600
    os.utime(pid_file, (old, old))  # the start time comes from /proc, not from the file
    service, findings = read_service(str(pid_file), time.time())
    assert findings == []
    assert service['pid'] == sleeper.pid and service['running'] is True
    assert 0 <= service['age_s'] < 60 and service['started_at'] != service['pid_file_mtime']


def test_service_of_a_dead_process(tmp_path):
    proc = subprocess.Popen(['true'])
    proc.wait()
    pid_file = tmp_path / 'genesis-orchestrator.pid'
    pid_file.write_text('%d\n' % proc.pid)
    service, findings = read_service(str(pid_file), time.time())
    assert service['running'] is False and service['pid'] == proc.pid
    assert service['started_at'] == service['pid_file_mtime']  # all there is to tell
    assert codes(findings) == ['stale_pid_file'] and findings[0]['severity'] == 'critical'
    assert 'not running' in findings[0]['message']


def test_service_of_a_zombie(tmp_path):
    proc = subprocess.Popen(['true'])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open('/proc/%d/stat' % proc.pid) as handle:
                if handle.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    break
            time.sleep(0.01)
        pid_file = tmp_path / 'genesis-orchestrator.pid'
        pid_file.write_text('%d' % proc.pid)
        service, findings = read_service(str(pid_file), time.time())
        assert service['running'] is False and codes(findings) == ['stale_pid_file']
        assert 'zombie' in findings[0]['message']
    finally:
        proc.wait()


@pytest.mark.parametrize('content', ['', 'not-a-pid', '-1', '0'])
def test_service_pid_file_without_a_pid(tmp_path, content):
    pid_file = tmp_path / 'genesis-orchestrator.pid'
    pid_file.write_text(content)
    service, findings = read_service(str(pid_file), time.time())
    assert service['pid'] is None and service['running'] is False
    assert codes(findings) == ['stale_pid_file'] and 'holds no pid' in findings[0]['message']


def test_service_without_pid_file(tmp_path):
    service, findings = read_service(str(tmp_path / 'none.pid'), time.time())
    assert service['running'] is None and service['pid'] is None and service['started_at'] is None
    assert codes(findings) == ['pid_file_missing'] and findings[0]['severity'] == 'info'


# --- key ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('line', [
    'MISTRAL_API_KEY=%s', 'MISTRAL_API_KEY="%s"', "MISTRAL_API_KEY='%s'", 'export MISTRAL_API_KEY=%s',
    '  MISTRAL_API_KEY = %s  ',
])
def test_key_fingerprint(tmp_path, line):
    env = tmp_path / 'genesis.env'
    env.write_text('OTHER=1\n# MISTRAL_API_KEY=commented-out\nMISTRAL_API_KEY=old\n' + line % KEY + '\n')
    env.chmod(0o600)
    info, findings, key = read_key(str(env))
    assert key == KEY and findings == []
    assert info == {'path': str(env), 'present': True, 'fingerprint': FINGERPRINT, 'mode': '0600', 'error': None}


def test_key_mode_0644(tmp_path):
    env = tmp_path / 'genesis.env'
    env.write_text('MISTRAL_API_KEY=%s\n' % KEY)
    env.chmod(0o644)
    info, findings, key = read_key(str(env))
    assert key == KEY and info['mode'] == '0644' and info['fingerprint'] == FINGERPRINT
    assert codes(findings) == ['env_file_mode'] and KEY not in json.dumps([info, findings])


def test_key_absent(tmp_path):
    env = tmp_path / 'genesis.env'
    env.write_text('MISTRAL_API_KEY=\nOTHER=x\n')
    env.chmod(0o600)
    info, findings, key = read_key(str(env))
    assert key is None and info['present'] is False and info['fingerprint'] is None
    assert codes(findings) == ['api_key_missing']


def test_key_file_missing(tmp_path):
    info, findings, key = read_key(str(tmp_path / 'nope.env'))
    assert key is None and info['present'] is None and info['mode'] is None and info['error'] == 'does not exist'
    assert codes(findings) == ['env_file_missing']


def test_key_file_unreadable(open_dir):
    env = os.path.join(open_dir, 'genesis.env')
    with open(env, 'w') as handle:
        handle.write('MISTRAL_API_KEY=%s\n' % KEY)
    os.chmod(env, UNREADABLE)
    info, findings, key = as_unprivileged(read_key, env)
    assert key is None and info['present'] is None and info['mode'] == '%04o' % UNREADABLE
    assert info['error'].startswith('cannot read') and 'env_file_unreadable' in codes(findings)


def test_key_file_in_a_closed_dir(open_dir):
    closed = os.path.join(open_dir, 'closed')
    os.mkdir(closed)
    env = os.path.join(closed, 'genesis.env')
    with open(env, 'w') as handle:
        handle.write('MISTRAL_API_KEY=%s\n' % KEY)
    os.chmod(closed, 0o700 if os.geteuid() == 0 else 0o000)  # root passes any mode: nobody does not
    try:
        info, findings, key = as_unprivileged(read_key, env)
    finally:
        os.chmod(closed, 0o700)
    assert key is None and info['mode'] is None and info['error'].startswith('cannot stat')
    assert codes(findings) == ['env_file_unreadable']


# --- recent changes ---------------------------------------------------------------------------------

def test_audit_log_window_and_bad_lines(tmp_path):
    now = time.time()
    log = tmp_path / 'model_ops_audit.jsonl'
    log.write_text('\n'.join([
        'not json at all',                                                            # never read: before the window
        json.dumps({'at': stamp(7200), 'module': 'rollout_set', 'after': 10}),     # before the window: reading stops
        json.dumps({'at': stamp(1800), 'module': 'rollout_set', 'key': 'models.rollout_percentage', 'before': 100,
                    'after': 10}),
        '{"at": "2025-10-31T12:0',                                                    # cut short
        json.dumps(['a', 'list']),
        json.dumps({'module': 'no time'}),
        json.dumps({'at': 'yesterday'}),
        '',
        json.dumps({'at': now - 60, 'module': 'finetuned_toggle', 'agent': 'qa_agent', 'after': False}),
    ]) + '\n')
    entries, findings = read_audit(str(log), now - 3600)
    assert [entry['detail']['module'] for entry in entries] == ['rollout_set', 'finetuned_toggle']
    assert entries[0] == {'code': 'audited_change', 'at': stamp(1800, '%Y-%m-%dT%H:%M:%SZ'), 'detail': {
        'module': 'rollout_set', 'key': 'models.rollout_percentage', 'before': 100, 'after': 10}}
    assert codes(findings) == ['audit_log_bad_lines'] and findings[0]['evidence']['bad_lines'] == 4


def test_audit_log_missing_is_no_finding(tmp_path):
    assert read_audit(str(tmp_path / 'none.jsonl'), 0) == ([], [])


def test_recent_changes(tmp_path):
    now = time.time()
    config = {'path': '/c.yaml', 'mtime': '2025-10-31T12:00:00Z', 'age_s': 120.0}
    service = {'pid': 42, 'running': True, 'started_at': '2025-10-31T11:55:00Z', 'age_s': 420.0}
    changes, findings = recent_changes(config, service, str(tmp_path / 'none.jsonl'), 3600, now)
    assert [change['code'] for change in changes] == ['service_restarted', 'config_modified']
    assert changes[0]['detail'] == {'pid': 42, 'running': True}
    # the config is newer than the running service: not in effect until a restart
    assert codes(findings) == ['config_modified', 'config_not_applied', 'service_restarted']
    changes, findings = recent_changes(config, service, str(tmp_path / 'none.jsonl'), 60, now)
    assert changes == [] and codes(findings) == ['config_not_applied']
    # written a second before /proc's (whole-second) start time: read at that start, most likely
    changes, findings = recent_changes(dict(config, age_s=419.0), service, str(tmp_path / 'none.jsonl'), 60, now)
    assert findings == []
    changes, findings = recent_changes(dict(config, age_s=7200.0), dict(service, running=None, age_s=None),
                                       str(tmp_path / 'none.jsonl'), 3600, now)
    assert changes == [] and findings == []


# --- all of it ---------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    body = {}

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        data = json.dumps(self.body).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    with http_server(Handler) as url:
        yield url


def test_collect_everything(app_root, tmp_path, health_server, monkeypatch):
    qa = {'status': 'degraded', 'model': FT, 'finetuned_model': FT, 'baseline_model': 'open-mistral-7b',
          'requests': 100, 'errors': 8, 'fallbacks': 8, 'error_rate': 0.08, 'fallback_rate': 0.08,
          'last_error': {'at': stamp(60), 'status': 429, 'message': 'Rate limit exceeded'}}
    monkeypatch.setattr(Handler, 'body', {'status': 'degraded', 'version': '1.4.2', 'agents': {'qa_agent': qa}})
    paths = derived_paths(str(app_root))
    with open(paths['audit_log'], 'w') as handle:
        handle.write(json.dumps({'at': stamp(30), 'module': 'rollout_set', 'after': 10}) + '\nbroken\n')
    result, key = collect(paths, str(tmp_path / 'genesis.env'), probe=HealthProbe(), health_url=health_server)
    assert key == KEY and KEY not in json.dumps(result)
    assert result['changed'] is False and result['env_file'] == str(tmp_path / 'genesis.env')
    assert result['pid_file'] == str(app_root / 'run' / 'genesis-orchestrator.pid')
    assert result['health']['status'] == 'degraded' and result['health']['attempts'] == 1
    assert result['logs']['counts']['rate_limit'] == 1 and result['logs']['window']['minutes'] == 15
    assert result['config']['rollout_percentage'] == 100 and result['config']['error'] is None
    assert result['service']['running'] is True
    assert result['key']['fingerprint'] == FINGERPRINT and result['key']['mode'] == '0600'
    assert [change['code'] for change in result['recent_changes']] == ['audited_change', 'service_restarted']
    by_source = {}
    for item in result['findings']:
        by_source.setdefault(item['source'], []).append(item['code'])
    assert by_source == {
        'health': ['agent_degraded', 'error_rate_high'],
        'changes': ['audit_log_bad_lines', 'audited_change', 'service_restarted'],
    }


def test_collect_a_broken_host(tmp_path):
    """Nothing there at all: every part says so, nothing raises."""
    paths = derived_paths(str(tmp_path / 'opt' / 'genesis'))
    result, key = collect(paths, str(tmp_path / 'genesis.env'), probe=None, log_minutes=None)
    assert key is None and result['health'] is None and result['logs'] is None
    assert codes(result['findings']) == ['config_missing', 'env_file_missing', 'pid_file_missing']
    assert result['recent_changes'] == []


def test_derived_paths_given_ones_win():
    paths = derived_paths('/srv/g', config_path='/etc/g.yaml')
    assert paths == {'config_path': '/etc/g.yaml', 'log_glob': '/srv/g/logs/finetuning/*.log',
                     'pid_file': '/srv/g/run/genesis-orchestrator.pid', 'audit_log': '/srv/g/logs/model_ops_audit.jsonl'}
