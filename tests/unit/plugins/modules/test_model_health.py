# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_health's main(): options in, JSON result out, against a real local HTTP server."""

from __future__ import annotations

import base64
import http.server
import json
import socket

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _jmespath_lite
from ansible_collections.genesis.model_ops.plugins.modules import model_health
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module, http_server

AGENT = {'status': 'ok', 'model': 'open-mistral-7b', 'finetuned_model': None, 'baseline_model': 'open-mistral-7b',
         'requests': 10, 'errors': 0, 'fallbacks': 0, 'error_rate': 0.0, 'fallback_rate': 0.0, 'last_error': None}
BODIES = {
    '/ok/health': (200, {'status': 'ok', 'version': '1.4.2', 'agents': {'qa_agent': AGENT}}),
    '/ok/health/qa_agent': (200, dict(AGENT, agent='qa_agent')),
    '/degraded/health': (200, {'status': 'degraded', 'agents': {'qa_agent': dict(AGENT, status='degraded', error_rate=0.2)}}),
    '/down/health': (503, {'status': 'down', 'agents': {'qa_agent': dict(AGENT, status='down', error_rate=1.0)}}),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        status, body = BODIES.get(self.path, (404, {}))
        if self.path.startswith('/private/'):  # behind Basic authentication
            wanted = 'Basic ' + base64.b64encode(b'ops:' + PASSWORD.encode()).decode()
            status, body = BODIES['/ok' + self.path[len('/private'):]] if self.headers.get('Authorization') == wanted else (
                401, {'error': 'who are you'})
        body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


PASSWORD = 's3cr-et:pw'


@pytest.fixture(scope='module')
def base():
    with http_server(Handler) as url:
        yield url


@pytest.fixture
def refused():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return 'http://127.0.0.1:%d' % port


def run(args, capsys):
    return run_module(model_health.main, args, capsys)[:2]


@pytest.mark.parametrize('check_mode', [False, True])
def test_one_host(base, capsys, check_mode):
    code, result = run({'url': base + '/ok', '_ansible_check_mode': check_mode}, capsys)
    assert code == 0 and result['changed'] is False
    assert result['status'] == 'ok' and result['healthy'] is True and result['attempts'] == 1
    assert result['version'] == '1.4.2' and result['agents']['qa_agent']['status'] == 'ok'
    assert result['findings'] == [] and 'hosts' not in result


def test_targets_in_one_call(base, refused, capsys):
    code, result = run({'targets': [{'name': 'a', 'url': base + '/ok'}, {'name': 'b', 'url': base + '/down'},
                                    {'name': 'c', 'url': refused}], 'timeout': 2}, capsys)
    assert code == 0 and result['changed'] is False
    assert {name: host['status'] for name, host in result['hosts'].items()} == {'a': 'ok', 'b': 'down', 'c': 'unreachable'}
    assert result['summary']['unhealthy'] == ['b', 'c'] and result['summary']['healthy'] == 1
    assert 'status' not in result


def test_fail_on_down(base, refused, capsys):
    code, result = run({'targets': [{'name': 'a', 'url': base + '/degraded'}, {'name': 'b', 'url': base + '/down'},
                                    {'name': 'c', 'url': refused}], 'fail_on': 'down'}, capsys)
    assert code == 1 and result['failed'] is True
    assert result['msg'] == 'fail_on=down: b is down, c is unreachable'
    assert set(result['hosts']) == {'a', 'b', 'c'}  # the whole result comes back with the failure


def test_fail_on_degraded(base, capsys):
    code, result = run({'url': base + '/degraded', 'fail_on': 'degraded'}, capsys)
    assert code == 1 and 'is degraded' in result['msg']
    assert [item['code'] for item in result['findings']] == ['agent_degraded', 'error_rate_high']
    code, result = run({'url': base + '/ok', 'fail_on': 'degraded'}, capsys)
    assert code == 0


def test_wait_that_times_out_fails(base, capsys):
    code, result = run({'url': base + '/degraded', 'wait': True, 'wait_timeout': 0, 'wait_interval': 0.1}, capsys)
    assert code == 1 and result['msg'].startswith('not healthy after 0s')
    assert result['attempts'] == 1 and result['status'] == 'degraded'


def test_wait_when_healthy_returns_at_once(base, capsys):
    code, result = run({'url': base + '/ok', 'wait': True}, capsys)
    assert code == 0 and result['attempts'] == 1


def test_named_agents_and_custom_fields(base, capsys):
    code, result = run({'url': base + '/ok', 'agents': ['qa_agent', 'ghost'], 'fields': {'version': 'agents.qa_agent.model'}},
                       capsys)
    assert code == 0
    assert result['version'] == 'open-mistral-7b'  # the other fields kept their defaults
    assert result['agents']['qa_agent']['http_status'] == 200 and result['agents']['ghost']['http_status'] == 404
    assert [(item['code'], item['agent']) for item in result['findings']] == [('unknown_agent', 'ghost')]


@pytest.mark.parametrize('args, message', [
    ({'error_rate_threshold': 1.5}, 'error_rate_threshold=1.5 is not allowed: give a number from 0 to 1'),
    ({'concurrency': 0}, 'concurrency=0 is not allowed: give an integer from 1 to 1000'),
    ({'timeout': -1}, 'timeout=-1 is not allowed: give a number of seconds above 0'),
    ({'wait_timeout': '60s'}, "wait_timeout='60s' is not allowed: give an integer of seconds from 0"),
    ({'wait_interval': True}, 'wait_interval=True is not allowed'),
    ({'agents': ['qa_agent', '']}, 'agents must be agent names'),
    ({'targets': [{'name': 'a', 'url': 'http://x'}, {'name': 'a', 'url': 'http://y'}]}, 'each name must be unique'),
    ({'fail_on': 'sometimes'}, 'value of fail_on must be one of: never, degraded, down'),
    ({'fields': {'agents': 'a[?'}}, 'fields.agents'),
])
def test_bad_input(capsys, args, message):
    code, result = run(args, capsys)
    assert code == 1 and message in result['msg']


def test_expression_needs_jmespath_when_absent(capsys, monkeypatch):
    monkeypatch.setattr(_jmespath_lite, 'HAS_JMESPATH', False)
    code, result = run({'fields': {'agents': 'agents[?status==`down`]'}}, capsys)
    assert code == 1 and "'jmespath' Python package" in result['msg']


def test_a_password_in_the_url_is_basic_authentication_and_shows_nowhere(base, refused, capsys):
    private = base.replace('http://', 'http://ops:%s@' % PASSWORD.replace(':', '%3A')) + '/private'
    code, result, out = run_module(model_health.main, {'url': private}, capsys)
    assert code == 0 and result['status'] == 'ok' and result['url'] == base.replace('http://', 'http://ops:********@') + '/private'
    wrong = private.replace('s3cr-et', 'wrong-pw')
    unreachable = refused.replace('http://', 'http://ops:%s@' % PASSWORD)
    code, result, out2 = run_module(model_health.main, {'targets': [{'name': 'a', 'url': wrong}, {'name': 'b', 'url': unreachable}],
                                                        'fail_on': 'degraded', 'timeout': 2}, capsys)
    assert code == 1 and result['hosts']['a']['findings'][0]['code'] == 'http_error'
    assert result['hosts']['b']['status'] == 'unreachable'
    for shown in (out, out2):
        assert 's3cr-et' not in shown and 'wrong-pw' not in shown and '%3Apw' not in shown, shown
