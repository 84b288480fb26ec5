# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health probe against a real local HTTP server serving crafted answers."""

from __future__ import annotations

import copy
import http.server
import json
import socket
import threading
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _health, _jmespath_lite
from ansible_collections.genesis.model_ops.plugins.module_utils._health import (
    HealthProbe, fails, probe_targets, summarize, waiting_for, worse_than)
from ansible_collections.genesis.model_ops.plugins.module_utils._jmespath_lite import (
    ExpressionError, compile_expression, parse_plain_path)
from ansible_collections.genesis.model_ops.tests.unit.helpers import StepClock, trickle_server

FT = 'ft:open-mistral-7b:587a6b29:20240514:7e773925'
QA = {
    'status': 'ok', 'model': FT, 'finetuned_model': FT, 'baseline_model': 'open-mistral-7b',
    'window_s': 300, 'requests': 1200, 'errors': 3, 'fallbacks': 10, 'error_rate': 0.0025, 'fallback_rate': 0.0083,
    'last_error': {'at': '2025-10-31T12:03:00Z', 'status': 429, 'message': 'Rate limit exceeded'},
}
# Exactly the contract's section 4 example.
HEALTHY = {
    'status': 'ok', 'version': '1.4.2', 'started_at': '2025-10-31T12:00:00Z',
    'config': {'path': '/opt/genesis/infrastructure/config/production.yaml', 'loaded_at': '2025-10-31T12:00:00Z',
               'use_finetuned': True, 'rollout_percentage': 100},
    'agents': {'qa_agent': QA},
}


def payload(status='ok', **agents):
    body = copy.deepcopy(HEALTHY)
    body['status'] = status
    for name, changes in agents.items():
        body['agents'][name] = dict(copy.deepcopy(QA), **changes)
    return body


def agent_body(name, body):
    return dict(body['agents'][name], agent=name)


DEGRADED = payload('degraded', qa_agent={'status': 'degraded', 'errors': 90, 'error_rate': 0.075})
DOWN_AGENT = {'status': 'down', 'requests': 50, 'errors': 50, 'fallbacks': 50, 'error_rate': 1.0, 'fallback_rate': 1.0,
              'last_error': {'at': '2025-10-31T12:03:00Z', 'status': 404, 'message': 'Model not found'}}
DOWN = payload('down', qa_agent=DOWN_AGENT, support_agent=DOWN_AGENT)

# path -> (status, body, delay); a body that is not bytes is sent as JSON
ROUTES = {
    '/healthy/health': (200, HEALTHY, 0),
    '/healthy/health/qa_agent': (200, agent_body('qa_agent', HEALTHY), 0),
    '/html500/health': (500, b'<html><body><h1>Internal Server Error</h1>Bearer abcdef123</body></html>', 0),
    '/garbage/health': (200, b'{"status": "ok", "agents": {', 0),
    '/binary/health': (200, b'\xff\xfe\x00garbage', 0),
    '/slow/health': (200, HEALTHY, 3),
    '/missing/health': (200, {'version': '1.0', 'agents': {'qa_agent': {'status': 'ok', 'model': FT}}}, 0),
    '/list/health': (200, [1, 2], 0),
    '/down/health': (503, DOWN, 0),
    '/down/health/qa_agent': (503, agent_body('qa_agent', DOWN), 0),
    '/proxy503/health': (503, b'<html>503 Service Temporarily Unavailable</html>', 0),
    '/degraded/health': (200, DEGRADED, 0),
    '/fallbacks/health': (200, payload(qa_agent={'fallbacks': 240, 'fallback_rate': 0.2}), 0),
    '/teapot/health': (418, {'status': 'ok'}, 0),
    '/nested/health': (200, {'health': {'state': 'ok', 'agents': {'qa-agent': {'state': 'ok', 'rates': {
        'error-rate': 0.01, 'fallback_rate': 0.0}}}}}, 0),
    '/agent500/health': (200, HEALTHY, 0),
    '/agent500/health/qa_agent': (500, b'oops', 0),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        route = ROUTES.get(self.path)
        if route is None and self.path.startswith('/healthy/health/'):
            route = (404, {'error': 'unknown agent'}, 0)
        if route is None:
            route = self.server.dynamic(self.path) if hasattr(self.server, 'dynamic') else (404, b'no route', 0)
        status, body, delay = route
        if delay:
            time.sleep(delay)
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 50 probes connect at once


@pytest.fixture(scope='module')
def server():
    httpd = Server(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base(server):
    return 'http://127.0.0.1:%d' % server.server_address[1]


def codes(result):
    return sorted(item['code'] for item in result['findings'])


def test_healthy_contract_payload(base):
    result = HealthProbe().probe(base + '/healthy/')
    assert result['status'] == 'ok' and result['healthy'] is True
    assert result['findings'] == []
    assert result['http_status'] == 200 and result['latency_ms'] >= 0
    assert result['version'] == '1.4.2' and result['started_at'] == '2025-10-31T12:00:00Z'
    assert result['config'] == HEALTHY['config']
    assert result['agents'] == {'qa_agent': {
        'status': 'ok', 'http_status': None, 'model': FT, 'finetuned_model': FT, 'baseline_model': 'open-mistral-7b',
        'requests': 1200, 'errors': 3, 'fallbacks': 10, 'error_rate': 0.0025, 'fallback_rate': 0.0083,
        'last_error': {'at': '2025-10-31T12:03:00Z', 'status': 429, 'message': 'Rate limit exceeded'}}}
    assert not fails(result, 'degraded') and not fails(result, 'down')


def test_named_agents_get_their_own_request(base):
    result = HealthProbe(agents=['qa_agent']).probe(base + '/healthy')
    assert result['agents']['qa_agent']['http_status'] == 200
    assert result['healthy'] and result['findings'] == []


def test_unknown_agent_is_a_404_finding(base):
    result = HealthProbe(agents=['qa_agent', 'nope']).probe(base + '/healthy')
    assert codes(result) == ['unknown_agent']
    assert result['findings'][0]['agent'] == 'nope'
    assert result['agents']['nope']['status'] == 'unknown' and result['agents']['nope']['http_status'] == 404
    assert result['status'] == 'ok' and not result['healthy']
    assert fails(result, 'degraded') and not fails(result, 'down')


def test_500_with_html_is_http_error(base):
    result = HealthProbe().probe(base + '/html500')
    assert codes(result) == ['http_error']
    assert result['status'] == 'unknown' and result['http_status'] == 500
    evidence = result['findings'][0]['evidence']
    assert 'Internal Server Error' in evidence['body'] and 'abcdef123' not in evidence['body']
    assert fails(result, 'down')


@pytest.mark.parametrize('path', ['/garbage', '/binary'])
def test_garbage_is_not_json(base, path):
    result = HealthProbe().probe(base + path)
    assert codes(result) == ['not_json'] and result['status'] == 'unknown'


def test_timeout(base):
    result = HealthProbe(timeout=0.5).probe(base + '/slow')  # /slow answers after 3 s
    assert codes(result) == ['timeout'] and result['status'] == 'unreachable'
    assert result['findings'][0]['message'] == 'no answer from %s/slow/health within 0.5s' % base
    assert result['http_status'] is None


def test_a_trickled_answer_ends_at_the_timeout():
    # a byte at a time, each read well within the timeout; on a clock that moves a second per read,
    # the 10 s timeout ends the answer after about ten of its thirty bytes
    with trickle_server(delay=0.2) as url:
        result = HealthProbe(timeout=10, clock=StepClock(1)).probe(url)
    assert codes(result) == ['timeout'] and result['status'] == 'unreachable'
    assert result['findings'][0]['message'] == 'no answer from %s/health within 10s' % url


def test_wait_timeout_bounds_the_whole_wait_probes_included():
    # each probe may take 20 s of its own, but the wait ends 12 s after it began, in the middle of a probe
    clock = StepClock(1)
    with trickle_server(delay=0.2) as url:
        result = HealthProbe(timeout=20, clock=clock).wait_healthy(url, wait_timeout=12, wait_interval=0.5, sleep=clock.sleep)
    assert not result['healthy'] and codes(result) == ['timeout'] and result['attempts'] == 1
    assert clock.now < 1021, clock.now  # the probe's own 20 s would have run to 1023 at least


def test_wait_gives_each_request_only_the_time_left(monkeypatch):
    # every request uses all the time it is given (a server that never finishes): what was it given?
    clock, given = StepClock(now=100.0), []

    def slow_get(url, timeout, **kwargs):
        given.append(round(timeout, 3))
        clock.now += max(timeout, 0)
        return {'http_status': None, 'body': b'', 'error': 'timeout', 'reason': 'no answer', 'latency_ms': timeout * 1000}
    monkeypatch.setattr(_health, 'http_get', slow_get)
    probe = HealthProbe(timeout=2, clock=clock)
    result = probe.wait_healthy('http://genesis-001:8080', wait_timeout=3, wait_interval=0.5, sleep=clock.sleep)
    assert given == [2, 0.5] and clock.now - 100 == 3.0 and result['attempts'] == 2


def test_refused_connection_is_unreachable():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = HealthProbe(agents=['qa_agent']).probe('http://127.0.0.1:%d' % port)
    assert codes(result) == ['unreachable'] and result['status'] == 'unreachable'
    assert result['agents'] == {'qa_agent': dict(result['agents']['qa_agent'], status='unknown')}
    assert fails(result, 'down')


def test_tls_to_a_plain_http_port_is_unreachable(base):
    result = HealthProbe(timeout=3).probe(base.replace('http:', 'https:') + '/healthy')
    assert codes(result) == ['unreachable'] and 'SSL' in result['findings'][0]['message'].upper()


def test_dns_failure_is_unreachable():
    result = HealthProbe(timeout=3).probe('http://genesis.invalid:8080')
    assert codes(result) in (['unreachable'], ['timeout'])
    assert result['status'] == 'unreachable'


def test_missing_fields(base):
    result = HealthProbe().probe(base + '/missing')
    assert codes(result) == ['missing_field'] * 3
    assert sorted(item['evidence']['field'] for item in result['findings']) == ['error_rate', 'fallback_rate', 'status']
    assert result['status'] == 'ok'  # no status of its own: the worst of its agents, as the contract defines it
    assert result['agents']['qa_agent']['error_rate'] is None


def test_payload_that_is_not_an_object(base):
    result = HealthProbe().probe(base + '/list')
    assert codes(result) == ['missing_field', 'missing_field'] and result['status'] == 'unknown'


def test_503_down_payload(base):
    result = HealthProbe().probe(base + '/down')
    assert result['status'] == 'down' and result['http_status'] == 503
    assert codes(result) == ['agent_down', 'agent_down', 'error_rate_high', 'error_rate_high',
                             'fallback_rate_high', 'fallback_rate_high', 'service_down']
    down = [item for item in result['findings'] if item['code'] == 'service_down'][0]
    assert down['evidence']['agents_down'] == ['qa_agent', 'support_agent'] and down['agent'] is None
    assert result['agents']['qa_agent']['last_error']['status'] == 404
    assert fails(result, 'down')


def test_503_down_agent_endpoint(base):
    result = HealthProbe(agents=['qa_agent']).probe(base + '/down')
    assert result['agents']['qa_agent']['http_status'] == 503
    assert result['agents']['qa_agent']['status'] == 'down'


def test_503_without_payload_is_http_error(base):
    assert codes(HealthProbe().probe(base + '/proxy503')) == ['http_error']


def test_other_status_is_http_error_even_with_json(base):
    result = HealthProbe().probe(base + '/teapot')
    assert codes(result) == ['http_error'] and result['http_status'] == 418


def test_degraded_agent(base):
    result = HealthProbe().probe(base + '/degraded')
    assert codes(result) == ['agent_degraded', 'error_rate_high']
    assert result['status'] == 'degraded' and not result['healthy']
    assert fails(result, 'degraded') and not fails(result, 'down')
    high = [item for item in result['findings'] if item['code'] == 'error_rate_high'][0]
    assert high['evidence']['error_rate'] == 0.075 and high['evidence']['threshold'] == 0.05


def test_thresholds_make_an_ok_agent_degraded(base):
    result = HealthProbe().probe(base + '/fallbacks')
    assert codes(result) == ['fallback_rate_high']
    assert result['agents']['qa_agent']['status'] == 'degraded' and result['status'] == 'degraded'
    relaxed = HealthProbe(fallback_rate_threshold=0.5).probe(base + '/fallbacks')
    assert relaxed['findings'] == [] and relaxed['healthy']


def test_agent_endpoint_error_falls_back_to_health(base):
    result = HealthProbe(agents=['qa_agent']).probe(base + '/agent500')
    assert codes(result) == ['http_error'] and result['findings'][0]['agent'] == 'qa_agent'
    assert result['agents']['qa_agent']['status'] == 'ok' and result['agents']['qa_agent']['http_status'] == 500


@pytest.mark.parametrize('use_jmespath', [True, False])
def test_configured_fields(base, monkeypatch, use_jmespath):
    monkeypatch.setattr(_jmespath_lite, 'HAS_JMESPATH', use_jmespath)
    probe = HealthProbe(fields={'status': 'health.state', 'agents': 'health.agents', 'agent_status': 'state',
                                'error_rate': 'rates."error-rate"', 'fallback_rate': 'rates.fallback_rate'})
    result = probe.probe(base + '/nested')
    assert result['findings'] == [] and result['healthy']
    assert result['agents']['qa-agent']['error_rate'] == 0.01


def test_fields_beyond_plain_paths_need_jmespath(monkeypatch):
    monkeypatch.setattr(_jmespath_lite, 'HAS_JMESPATH', False)
    with pytest.raises(ExpressionError, match="fields.agents: .*'jmespath' Python package"):
        HealthProbe(fields={'agents': 'health.agents[?status==`down`]'})


def test_wait_until_healthy(server, base):
    calls = []

    def dynamic(path):
        calls.append(path)
        return (200, DEGRADED if len(calls) < 3 else HEALTHY, 0)
    server.dynamic = dynamic
    try:
        result = HealthProbe().wait_healthy(base + '/flapping', wait_timeout=10, wait_interval=0.05)
    finally:
        del server.dynamic
    assert result['healthy'] and result['attempts'] == 3


def test_wait_gives_up(base):
    # probes at 0, 0.25, 0.5 and 0.75 s (the clock moves only while it sleeps); a fifth would start at the deadline
    clock = StepClock()
    result = HealthProbe(clock=clock).wait_healthy(base + '/degraded', wait_timeout=1, wait_interval=0.25, sleep=clock.sleep)
    assert not result['healthy'] and result['status'] == 'degraded' and result['attempts'] == 4
    assert clock.now == 1000.75


def test_a_stepped_wait_says_it_is_waiting_then_ends_at_the_same_deadline(base):
    # a 1 s wait in steps of 0.5 s, each step told what the earlier ones spent (as the module is, by wait_started):
    # the first step returns `waiting` after 2 probes; the last ends the wait where one call ends it (test_wait_gives_up:
    # 4 probes, the last at 0.75 s)
    clock = StepClock()
    steps = []
    while not steps or steps[-1].get('waiting'):
        steps.append(HealthProbe(clock=clock).wait_healthy(base + '/degraded', wait_timeout=1, wait_interval=0.25,
                                                           sleep=clock.sleep, report_every=0.5, elapsed=clock.now - 1000))
        assert len(steps) < 10
    assert [step.get("waiting", False) for step in steps] == [True, False]
    assert sum(step['attempts'] for step in steps) == 4 and clock.now == 1000.75
    assert waiting_for(steps[0]) == 'qa_agent degraded' and not steps[-1]['healthy']
    # the deadline passed already: one probe, judged as at the deadline, never `waiting`
    late = HealthProbe(clock=clock).wait_healthy(base + '/degraded', wait_timeout=1, wait_interval=0.25, sleep=clock.sleep,
                                                 report_every=0.5, elapsed=5)
    assert 'waiting' not in late and late['attempts'] == 1 and late['status'] == 'degraded'


def test_a_stepped_wait_ends_at_once_when_the_host_is_there(base):
    clock = StepClock()
    result = HealthProbe(clock=clock).wait_healthy(base + '/healthy', wait_timeout=120, wait_interval=2, sleep=clock.sleep,
                                                   report_every=10)
    assert result['healthy'] and result['attempts'] == 1 and 'waiting' not in result


def test_a_stepped_wait_against_a_baseline_says_what_is_worse(base):
    before = HealthProbe().probe(base + '/healthy')
    clock = StepClock()
    result = HealthProbe(clock=clock).wait_healthy(base + '/degraded', wait_timeout=60, wait_interval=2, sleep=clock.sleep,
                                                   report_every=10, baseline=before)
    assert result['waiting'] and result['attempts'] == 5
    assert waiting_for(result, before) == 'qa_agent degraded (was ok)'


def test_wait_against_a_baseline_no_worse_than_before(server, base):
    # before the change qa_agent was degraded; after the restart: no answer, then a fresh window with
    # no request yet on the same model (nothing to wait for: its status and model say it is fine)
    before = HealthProbe().probe(base + '/degraded')
    fresh = payload('ok', qa_agent={'requests': 0, 'errors': 0, 'fallbacks': 0, 'error_rate': 0, 'fallback_rate': 0})
    answers = [(503, b'starting', 0), (200, fresh, 0), (200, DEGRADED, 0)]
    server.dynamic = lambda path: answers.pop(0) if len(answers) > 1 else answers[0]
    try:
        result = HealthProbe().wait_healthy(base + '/restarting', wait_timeout=10, wait_interval=0.05, baseline=before)
    finally:
        del server.dynamic
    assert result['attempts'] == 2 and result['worse'] == [] and result['idle'] == [] and result['healthy']


IDLE = {'requests': 0, 'errors': 0, 'fallbacks': 0, 'error_rate': 0, 'fallback_rate': 0, 'last_error': None}


TWO = dict(HEALTHY, agents={'qa_agent': QA, 'legal_agent': QA})


def probed(server, base, body):
    """The probe of a server answering body (a 503 when it is down, as the contract says)."""
    server.dynamic = lambda path: (503 if body.get('status') == 'down' else 200, body, 0)
    try:
        return HealthProbe().probe(base + '/any')
    finally:
        del server.dynamic


@pytest.mark.parametrize('before, after, worse', [
    (TWO, payload('ok', legal_agent={}), []),
    # an agent gone missing after the restart, or none at all, is worse, not recovered
    (TWO, HEALTHY, ['legal_agent missing (was ok)']),
    (HEALTHY, dict(payload('ok'), agents={}), ['no agent reported (1 before)']),
    # an idle agent is judged by its own status and its model
    (HEALTHY, payload('ok', qa_agent=IDLE), []),
    (HEALTHY, payload('degraded', qa_agent=dict(IDLE, status='degraded')), ['qa_agent degraded (was ok)']),
    (HEALTHY, payload('degraded'), ['service degraded (was ok)']),
    (HEALTHY, payload('ok', qa_agent=dict(IDLE, model='mistral-large-latest')),
     ['qa_agent has served no request and routes to mistral-large-latest, not its configured model']),
    (HEALTHY, payload('ok', qa_agent=dict(IDLE, model=None)), ['qa_agent has served no request and routes to None, not its configured model']),
    (HEALTHY, dict(payload('ok', qa_agent=IDLE), config={'use_finetuned': False}),
     ['qa_agent has served no request and routes to %s, not its configured model' % FT]),
    (HEALTHY, dict(payload('ok', qa_agent=dict(IDLE, model='open-mistral-7b')), config={'rollout_percentage': 0}), []),
])
def test_what_is_worse_after_a_restart(server, base, before, after, worse):
    assert worse_than(probed(server, base, after), probed(server, base, before))[0] == worse


def test_an_idle_agent_on_a_new_model_is_waited_on_then_accepted_at_the_deadline(server, base):
    before = HealthProbe().probe(base + '/healthy')
    on_baseline = dict(payload('ok', qa_agent=dict(IDLE, model='open-mistral-7b')), config={'use_finetuned': False})
    server.dynamic = lambda path: (200, on_baseline, 0)
    try:
        result = HealthProbe().wait_healthy(base + '/quiet', wait_timeout=1.5, wait_interval=0.3, baseline=before)
    finally:
        del server.dynamic
    assert result['worse'] == [] and result['attempts'] >= 3
    assert result['idle'] == ['qa_agent has served no request yet on open-mistral-7b (was on %s)' % FT]


def test_an_idle_agent_on_a_new_model_that_then_fails_is_worse(server, base):
    before = HealthProbe().probe(base + '/healthy')
    answers = [(200, payload('ok', qa_agent=dict(IDLE, model='open-mistral-7b')), 0),
               (503, payload('down', qa_agent={'status': 'down', 'model': 'open-mistral-7b', 'requests': 4,
                                               'errors': 4, 'error_rate': 1.0}), 0)]
    server.dynamic = lambda path: answers.pop(0) if len(answers) > 1 else answers[0]
    try:
        # every probe starts at least wait_interval before the deadline: 0.5 s, so that on a loaded machine the last
        # one is not cut short by the deadline (it would say unreachable, not what the host answered)
        result = HealthProbe().wait_healthy(base + '/breaking', wait_timeout=1.5, wait_interval=0.5, baseline=before)
    finally:
        del server.dynamic
    assert result['worse'] == ['qa_agent down (was ok)'] and result['idle'] == []


def test_wait_against_a_baseline_says_what_is_worse(base):
    before = HealthProbe().probe(base + '/healthy')
    result = HealthProbe().wait_healthy(base + '/degraded', wait_timeout=1.0, wait_interval=0.5, baseline=before)
    assert result['worse'] == ['qa_agent degraded (was ok)']
    gone = HealthProbe(timeout=0.5).wait_healthy('http://127.0.0.1:9', wait_timeout=0.1, wait_interval=0.1, baseline=before)
    assert gone['worse'] == ['service unreachable']


def test_fifty_targets_cost_one_slow_probe(server, base):
    # not timed (a loaded machine would make that flaky): the server holds every probe until all fifty are
    # held at once, which probes made one after another never are (the first gives up waiting after 15 s,
    # and no later one waits)
    lock, state, all_in = threading.Lock(), {'now': 0, 'most': 0, 'gave_up': False}, threading.Event()

    def slow(path):
        with lock:
            state['now'] += 1
            state['most'] = max(state['most'], state['now'])
            if state['now'] == 50:
                all_in.set()
        if not state['gave_up'] and not all_in.wait(15):
            state['gave_up'] = True
        with lock:
            state['now'] -= 1
        return (200, HEALTHY, 0)
    server.dynamic = slow
    try:
        probe = HealthProbe(timeout=30)
        targets = [{'name': 'genesis-%03d' % i, 'url': '%s/fleet%d' % (base, i)} for i in range(50)]
        hosts = probe_targets(probe.probe, targets, concurrency=50)
    finally:
        del server.dynamic
    assert (state['most'], state['gave_up']) == (50, False), state  # in parallel, not one after the other
    assert sorted(hosts) == [target['name'] for target in targets]
    assert all(host['healthy'] for host in hosts.values())
    summary = summarize(hosts)
    assert summary['hosts'] == 50 and summary['healthy'] == 50 and summary['by_status']['ok'] == 50


def test_summary_of_mixed_hosts(base):
    probe = HealthProbe(timeout=2)
    hosts = probe_targets(probe.probe, [{'name': 'a', 'url': base + '/healthy'}, {'name': 'b', 'url': base + '/down'},
                                        {'name': 'c', 'url': base + '/html500'}], concurrency=2)
    summary = summarize(hosts)
    assert summary['by_status'] == {'ok': 1, 'degraded': 0, 'down': 1, 'unreachable': 0, 'unknown': 1}
    assert summary['unhealthy'] == ['b', 'c'] and summary['findings']['http_error'] == 1


@pytest.mark.parametrize('expr, steps', [
    ('status', ['status']),
    ('a.b', ['a', 'b']),
    ('a."x-y".c', ['a', 'x-y', 'c']),
    ('agents[0].status', ['agents', 0, 'status']),
    ('[-1]', [-1]),
    ('a[0][1]', ['a', 0, 1]),
])
def test_plain_paths(expr, steps):
    assert parse_plain_path(expr) == steps


@pytest.mark.parametrize('expr', ['a.[0]', 'a..b', 'a[?x]', 'a | b', 'length(a)', 'a.', '"bad\\q"', 'a b'])
def test_not_plain_paths_name_the_package(expr):
    with pytest.raises(ExpressionError, match='jmespath'):
        compile_expression(expr, use_jmespath=False)


def test_lite_semantics_match_jmespath():
    data = {'a': {'x-y': [1, {'b': 2}]}, 's': 'text'}
    for expr in ('a."x-y"[1].b', 'a."x-y"[-2]', 'a."x-y"[5]', 'missing.b', 's.b', 's[0]', 'a'):
        assert compile_expression(expr, use_jmespath=False)(data) == compile_expression(expr, use_jmespath=True)(data)


def test_bad_jmespath_is_an_expression_error():
    with pytest.raises(ExpressionError, match='not valid JMESPath'):
        compile_expression('a[?', use_jmespath=True)
    with pytest.raises(ExpressionError, match='empty'):
        compile_expression(' ')
