# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mistral_check for real: ansible-playbook and ansible, the real mistralai SDK, the lab's Mistral simulator.

The simulator runs as its own process on a free port with its own state folder; nothing is mocked.
Requests are counted on both sides: the module's api_calls, and the simulator's request log.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / 'tests' / 'integration' / '.targets' / 'mistral_check'
BIN = Path(sys.executable).parent
PYTHON = BIN / 'python'

FT_QA = 'ft:ministral-8b-2512:587a6b29:20251014:7e773925'
FT_SUPPORT = 'ft:ministral-8b-2512:587a6b29:20251014:1c2d3e4f'
FT_LEGAL = 'ft:mistral-small-2506:587a6b29:20251015:9a8b7c6d'
FT_ANALYST = 'ft:mistral-small-2506:587a6b29:20251015:5f4e3d2c'
FT_CONTENT = 'ft:ministral-3b-2512:587a6b29:20251016:0b1a2c3d'
FT_RUNBOOK = 'ft:open-mistral-7b:587a6b29:20240514:7e773925'
BASELINES = ['ministral-8b-2512', 'mistral-small-2506', 'ministral-3b-2512']


def _key():
    return ''.join(secrets.choice(string.ascii_letters + string.digits) for dummy in range(32))


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Simulator:
    """python -m lab.mistral in its own process, state folder and port."""

    def __init__(self, state):
        self.state = state
        (state / 'secrets').mkdir(parents=True)
        self.keys = {'fleet': _key(), 'spare': _key()}
        (state / 'secrets' / 'keys.json').write_text(json.dumps(self.keys), encoding='utf-8')
        self.port = _free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.log = state / 'mistral.log'
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [str(PYTHON), '-m', 'lab.mistral', '--port', str(self.port), '--state-dir', str(state)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.lab('GET', '/_lab/faults')
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('simulator did not start: %s' % self.proc.stdout.read().decode())
                time.sleep(0.1)

    def lab(self, method, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b'null')

    def fault(self, **fault):
        return self.lab('POST', '/_lab/faults', fault)

    def api_requests(self):
        """The /v1 requests the simulator has logged so far: (method, path, status)."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding='utf-8').splitlines()
        return [tuple(line.split()[2:5]) for line in lines if len(line.split()) > 4 and line.split()[3].startswith('/v1/')]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope='module')
def sim(tmp_path_factory):
    simulator = Simulator(tmp_path_factory.mktemp('mistral-sim'))
    yield simulator
    simulator.stop()


@pytest.fixture(autouse=True)
def clean(sim):
    sim.lab('POST', '/_lab/reset')
    yield
    sim.lab('POST', '/_lab/reset')  # also releases a hang


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != 'MISTRAL_API_KEY'}
    env.update(ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    env.update(extra)
    return env


def playbook(tmp_path, options, env=None, verbosity=0, flags=()):
    """Run check.yml on three hosts with `mc` = options; returns (registered result, completed process)."""
    vars_file, result_file = tmp_path / 'vars.json', tmp_path / 'result.json'
    vars_file.write_text(json.dumps({'mc': options, 'result_file': str(result_file)}), encoding='utf-8')
    result_file.unlink(missing_ok=True)
    cmd = [str(BIN / 'ansible-playbook'), '-i', str(TARGET / 'inventory.ini'), str(TARGET / 'check.yml'), '-e', '@%s' % vars_file]
    if verbosity:
        cmd.append('-' + 'v' * verbosity)
    cmd.extend(flags)
    proc = subprocess.run(cmd, cwd=ROOT, env=env or _env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(result_file.read_text(encoding='utf-8')), proc


def check(sim, tmp_path, release=False, flags=(), **options):
    """Run the module; assert its api_calls equal the requests the simulator saw; return the result.

    The simulator logs a request once it has answered it: ``release`` lifts the faults first so that
    hung requests end and get logged.
    """
    before = len(sim.api_requests())
    options.setdefault('server_url', sim.url)
    options.setdefault('api_key', sim.keys['fleet'])
    result, _proc = playbook(tmp_path, options, flags=flags)
    if release:
        sim.lab('POST', '/_lab/reset')
    time.sleep(0.2)
    seen = sim.api_requests()[before:]
    assert result['api_calls'] == len(seen), seen
    result['_seen'] = seen
    return result


def codes(result):
    return [(f['code'], f['model']) for f in result['findings']]


# --- acceptance ---------------------------------------------------------------------------------

def test_ten_models_three_repeats_make_seven_model_calls_and_one_key_call(sim, tmp_path):
    models = [FT_QA, 'ministral-8b-2512', FT_SUPPORT, FT_LEGAL, 'mistral-small-2506', FT_ANALYST, FT_CONTENT,
              FT_QA, 'ministral-8b-2512', 'mistral-small-2506']
    assert len(models) == 10 and len(set(models)) == 7
    result = check(sim, tmp_path, models=models)
    print('api_calls=%s tokens_spent=%s summary=%s simulator saw=%s'
          % (result['api_calls'], result['tokens_spent'], result['summary'], result['_seen']))
    assert result['api_calls'] == 8
    assert result['_seen'][0][:2] == ('GET', '/v1/models')
    assert sorted(path for _m, path, _s in result['_seen'][1:]) == sorted('/v1/models/%s' % m for m in dict.fromkeys(models))
    assert result['tokens_spent'] == 0
    assert list(result['models']) == list(dict.fromkeys(models))
    assert result['summary'] == dict(requested=10, distinct=7, checked=7, available=7, missing=0, retired=0,
                                     deprecated=0, archived=0, unknown=0, findings=0)
    assert result['changed'] is False and result['findings'] == []


def test_the_key_shows_nowhere_at_vvvv(sim, tmp_path):
    key = sim.keys['fleet']
    options = dict(server_url=sim.url, api_key=key, models=[FT_QA, 'open-mistral-7b'], probe='chat')
    # The playbook path, key in a vars file, with the default callback: what an operator sees.
    result, proc = playbook(tmp_path, options, verbosity=4)
    # The ad-hoc path, key in the environment, as the docs suggest.
    adhoc = subprocess.run([str(BIN / 'ansible'), '-vvvv', '-i', str(TARGET / 'inventory.ini'), 'localhost',
                            '-m', 'genesis.model_ops.mistral_check', '-a', json.dumps(dict(server_url=sim.url, models=[FT_QA]))],
                           cwd=ROOT, env=_env(MISTRAL_API_KEY=key), capture_output=True, text=True, timeout=300, check=False)
    # The ad-hoc path, key on the command line as key=value.
    inline = subprocess.run([str(BIN / 'ansible'), '-vvvv', '-i', str(TARGET / 'inventory.ini'), 'localhost',
                             '-m', 'genesis.model_ops.mistral_check', '-a', 'api_key=%s server_url=%s models=%s' % (key, sim.url, FT_QA)],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == adhoc.returncode == inline.returncode == 0, proc.stdout + adhoc.stdout + inline.stdout
    for out in (proc.stdout, adhoc.stdout, inline.stdout):
        assert 'ESTABLISH LOCAL CONNECTION' in out  # really -vvvv
    assert result['key']['authenticated'] is True
    assert adhoc.stdout.count('"authenticated": true') == inline.stdout.count('"authenticated": true') == 1
    for text in (proc.stdout, proc.stderr, adhoc.stdout, adhoc.stderr, inline.stdout, inline.stderr, json.dumps(result)):
        assert key not in text
        assert key[:10] not in text  # not even the runbook's `cut -c1-10`
    # -vvvv prints the module's arguments: the key is masked there.
    assert '"api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in proc.stdout
    assert '"api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in adhoc.stdout
    assert '"api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in inline.stdout


def test_ansible_doc_renders():
    proc = subprocess.run([str(BIN / 'ansible-doc'), 'genesis.model_ops.mistral_check'], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    for word in ('retired_models', 'max_retry_wait', 'MISTRAL_API_KEY', 'delegate_to', 'tokens_spent'):
        assert word in proc.stdout


# --- credentials --------------------------------------------------------------------------------

def test_key_ok(sim, tmp_path):
    result = check(sim, tmp_path, models=[FT_QA] + BASELINES)
    assert result['key']['authenticated'] is True and result['key']['status'] == 200
    assert len(result['key']['fingerprint']) == 8 and result['summary']['available'] == 4
    assert all(e['type'] == 'base' for e in list(result['models'].values())[1:])
    assert result['models'][FT_QA]['type'] == 'fine-tuned' and result['models'][FT_QA]['archived'] is False


def test_check_mode_makes_the_same_calls_and_returns_the_same(sim, tmp_path):
    # An AWX "Check" job must not skip the diagnosis.
    models = [FT_QA, 'open-mistral-7b', 'mistral-small-2409']
    normal = check(sim, tmp_path, models=models)
    checked = check(sim, tmp_path, flags=['--check'], models=models)
    assert checked['api_calls'] == normal['api_calls'] == 4
    for field in ('key', 'models', 'summary', 'findings', 'changed'):
        assert without_quota_left(checked[field]) == without_quota_left(normal[field]), field
    # what differs: the key's quota left, one minute's calls lower (unless a new minute began in between)
    left = [int(r['key']['headers']['x-ratelimit-remaining-req-minute']) for r in (normal, checked)]
    assert left[1] == left[0] - 4 or left[1] >= left[0], left


def without_quota_left(value):
    """``value`` without the quota headers that say what is left (they count down with every call)."""
    if isinstance(value, dict):
        return dict((k, without_quota_left(v)) for k, v in value.items() if not k.startswith('x-ratelimit-remaining-'))
    if isinstance(value, list):
        return [without_quota_left(v) for v in value]
    return value


def test_wrong_key_is_401_auth(sim, tmp_path):
    result = check(sim, tmp_path, api_key=_key(), models=[FT_QA])
    assert (result['key']['authenticated'], result['key']['status'], result['key']['error_kind']) == (False, 401, 'auth')
    assert codes(result) == [('key_rejected', None)]
    assert result['api_calls'] == 1 and result['models'][FT_QA]['checked'] is False


@pytest.mark.parametrize('status', [401, 403])
def test_credentials_fault(sim, tmp_path, status):
    sim.fault(name='credentials', status=status)
    result = check(sim, tmp_path, models=[FT_QA])
    assert (result['key']['authenticated'], result['key']['status'], result['key']['error_kind']) == (False, status, 'auth')
    assert codes(result) == [('key_rejected', None)]
    # The fault revokes the fleet key only: the spare key, the way out, still works.
    spare = check(sim, tmp_path, api_key=sim.keys['spare'], models=[FT_QA])
    assert spare['key']['authenticated'] is True and spare['models'][FT_QA]['exists'] is True


# --- rate limiting ------------------------------------------------------------------------------

def test_rate_limit_with_chat_honours_retry_after_within_the_budget(sim, tmp_path):
    sim.fault(name='rate_limit', retry_after=1)
    started = time.monotonic()
    result = check(sim, tmp_path, models=[FT_QA, 'ministral-8b-2512'], probe='chat', retries=1, max_retry_wait=10)
    elapsed = time.monotonic() - started
    qa, base = result['models'][FT_QA], result['models']['ministral-8b-2512']
    assert (qa['exists'], qa['http_status'], qa['error_kind']) == (None, 429, 'rate_limited')
    assert base['exists'] is True and result['tokens_spent'] > 0
    # 1 key check + 2 chats to the limited model (one retry, after Retry-After) + 1 chat to the baseline.
    assert result['api_calls'] == 4
    # the models are checked side by side: the key check first, then the three chats in any order
    statuses = [s for _m, _p, s in result['_seen']]
    assert statuses[0] == '200' and sorted(statuses[1:]) == ['200', '429', '429']
    rate = result['rate_limit']
    assert (rate['retry_after'], rate['waited'], rate['limited']) == (1.0, 1.0, 2)
    assert rate['headers']['x-ratelimit-remaining-req-minute'] == '0'
    assert rate['headers']['x-ratelimit-remaining-tokens-minute'] == '0'
    assert 'x-ratelimit-limit-req-minute' in rate['headers']
    assert elapsed >= 1.0
    assert codes(result) == [('rate_limited', FT_QA)]


def test_rate_limit_retry_after_beyond_the_budget_is_not_waited(sim, tmp_path):
    sim.fault(name='rate_limit', retry_after=120)
    started = time.monotonic()
    result = check(sim, tmp_path, models=[FT_QA, FT_LEGAL], probe='chat', retries=3, max_retry_wait=5)
    assert time.monotonic() - started < 60
    assert result['api_calls'] == 3 and result['rate_limit']['waited'] == 0.0
    assert result['rate_limit']['retry_after'] == 120.0
    assert codes(result) == [('rate_limited', FT_QA), ('rate_limited', FT_LEGAL)]


# --- models -------------------------------------------------------------------------------------

def test_model_unavailable(sim, tmp_path):
    sim.fault(name='model_unavailable', models=[FT_QA])
    retrieved = check(sim, tmp_path, models=[FT_QA, FT_SUPPORT])
    qa = retrieved['models'][FT_QA]
    assert (qa['exists'], qa['http_status'], qa['error_kind'], qa['retired']) == (False, 404, 'not_found', False)
    assert retrieved['models'][FT_SUPPORT]['exists'] is True
    assert codes(retrieved) == [('model_missing', FT_QA)]
    chatted = check(sim, tmp_path, models=[FT_QA], probe='chat')
    qa = chatted['models'][FT_QA]
    assert (qa['exists'], qa['http_status'], qa['error_kind']) == (False, 400, 'invalid_model')
    assert codes(chatted) == [('model_missing', FT_QA)]


def test_retired_baseline_and_open_mistral_7b(sim, tmp_path):
    sim.fault(name='retired_baseline', models=['ministral-8b-2512'])
    retired_models = {
        'open-mistral-7b': {'retired_on': '2025-03-30', 'replacement': 'ministral-8b-latest'},
        'ministral-8b-2512': {'retired_on': '2026-11-20', 'replacement': 'ministral-8b-2601'},
    }
    result = check(sim, tmp_path, models=['ministral-8b-2512', 'open-mistral-7b', FT_RUNBOOK, 'mistral-small-2506'],
                   retired_models=retired_models)
    for model_id, day, replacement in (('ministral-8b-2512', '2026-11-20', 'ministral-8b-2601'),
                                       ('open-mistral-7b', '2025-03-30', 'ministral-8b-latest'),
                                       (FT_RUNBOOK, '2025-03-30', 'ministral-8b-latest')):
        entry = result['models'][model_id]
        assert (entry['exists'], entry['retired'], entry['retired_on'], entry['replacement']) == (False, True, day, replacement)
    assert 'with its base model open-mistral-7b' in result['models'][FT_RUNBOOK]['message']
    assert result['models']['mistral-small-2506']['exists'] is True
    assert codes(result) == [('model_retired', 'ministral-8b-2512'), ('model_retired', 'open-mistral-7b'),
                             ('model_retired', FT_RUNBOOK)]


def test_open_mistral_7b_with_the_default_retirements_and_chat(sim, tmp_path):
    result = check(sim, tmp_path, models=['open-mistral-7b', 'open-mixtral-8x7b'], probe='chat')
    assert [(e['retired'], e['retired_on'], e['replacement'], e['error_kind']) for e in result['models'].values()] == [
        (True, '2025-03-30', 'ministral-8b-latest', 'invalid_model'),
        (True, '2025-03-30', 'mistral-small-latest', 'invalid_model')]
    assert result['tokens_spent'] == 0


def test_deprecated_model(sim, tmp_path):
    result = check(sim, tmp_path, models=['mistral-small-2409'])
    entry = result['models']['mistral-small-2409']
    assert (entry['exists'], entry['deprecated'], entry['deprecation'], entry['replacement']) == (
        True, True, '2027-01-31', 'mistral-small-latest')
    assert codes(result) == [('model_deprecated', 'mistral-small-2409')]


# --- the API failing ----------------------------------------------------------------------------

def test_server_error(sim, tmp_path):
    sim.fault(name='server_error')
    result = check(sim, tmp_path, models=[FT_QA], retries=1, max_retry_wait=10)
    assert (result['key']['status'], result['key']['error_kind'], result['key']['authenticated']) == (503, 'server_error', None)
    qa = result['models'][FT_QA]
    # The key check, retried once after a 1 s backoff (no Retry-After on a 503), says the API is down: the
    # models are not called (each would only earn another 503), and say why.
    assert (qa['checked'], qa['http_status'], qa['error_kind']) == (False, 503, 'server_error')
    assert qa['message'] == 'not checked (API unavailable: HTTP 503)'
    assert result['api_calls'] == 2 and result['rate_limit']['waited'] == 1.0
    assert codes(result) == [('api_error', None)]


def test_hang_with_a_short_timeout(sim, tmp_path):
    sim.fault(name='hang')
    started = time.monotonic()
    result = check(sim, tmp_path, release=True, models=[FT_QA, FT_LEGAL], timeout=1)
    assert time.monotonic() - started < 30
    assert (result['key']['error_kind'], result['key']['status']) == ('timeout', None)
    assert result['api_calls'] == 1  # the models are not called into a hanging API
    assert [e['error_kind'] for e in result['models'].values()] == ['timeout', 'timeout']
    assert codes(result) == [('api_unreachable', None)]


def test_complete_failure(sim, tmp_path):
    sim.fault(name='complete_failure')
    result = check(sim, tmp_path, models=[FT_QA])
    assert (result['key']['error_kind'], result['key']['authenticated']) == ('connect', None)
    assert codes(result) == [('api_unreachable', None)]


def test_simulator_stopped(tmp_path):
    stopped = Simulator(tmp_path / 'stopped')
    stopped.stop()
    result, _proc = playbook(tmp_path, dict(server_url=stopped.url, api_key=stopped.keys['fleet'], models=[FT_QA]))
    assert (result['key']['error_kind'], result['api_calls']) == ('connect', 1)
    assert 'ConnectError' in result['key']['message']
    assert codes(result) == [('api_unreachable', None)]
