# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health probe's results in full, against the same real local HTTP server as test_health.py: every
finding's code, severity, agent, words and evidence, an agent's result as the module returns it, the
agent endpoints asked by their quoted name within the probe's deadline, and what a wait says it waits for."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils._health import HealthProbe, fails, summarize, waiting_for, worse_than
from ansible_collections.genesis.model_ops.tests.unit.plugins.module_utils.test_health import (  # pylint: disable=unused-import
    DEGRADED, FT, HEALTHY, QA, Handler, Server, base, server)

EMPTY = {'status': 'unknown', 'http_status': None, 'model': None, 'finetuned_model': None, 'baseline_model': None,
         'requests': None, 'errors': None, 'fallbacks': None, 'error_rate': None, 'fallback_rate': None, 'last_error': None}
QA_RESULT = {'status': 'ok', 'http_status': None, 'model': FT, 'finetuned_model': FT, 'baseline_model': 'open-mistral-7b',
             'requests': 1200, 'errors': 3, 'fallbacks': 10, 'error_rate': 0.0025, 'fallback_rate': 0.0083,
             'last_error': {'at': '2025-10-31T12:03:00Z', 'status': 429, 'message': 'Rate limit exceeded'}}
SLOW = 3
KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'


EDGE_ROUTES = {
    '/odd/health': (200, {'status': 'fine', 'agents': {'qa_agent': {'status': 7, 'model': FT}}}, 0),
    '/quoted/health': (200, {'status': 'ok', 'agents': {'a/b': QA}}, 0),
    '/quoted/health/a%2Fb': (200, dict(QA, agent='a/b'), 0),
    '/slowagent/health': (200, {'status': 'ok', 'agents': {'qa_agent': QA}}, 0),
    '/slowagent/health/qa_agent': (200, dict(QA, agent='qa_agent'), SLOW),
    '/ghost/health': (200, {'status': 'ok', 'agents': {'ghost': QA}}, 0),
    '/ghost/health/ghost': (404, {'error': 'unknown agent'}, 0),
    '/deg500/health': (200, DEGRADED, 0),
    '/deg500/health/qa_agent': (500, b'oops', 0),
    '/degagent/health': (200, {'status': 'ok', 'agents': {}}, 0),
    '/degagent/health/qa_agent': (200, dict(DEGRADED['agents']['qa_agent'], agent='qa_agent'), 0),
    '/listed/health': (200, {'status': 'ok', 'agents': [dict(QA, agent='qa_agent'), dict(QA, name='support_agent'),
                                                        {'status': 'ok'}, 'junk']}, 0),
    '/emptylist/health': (200, {'status': 'ok', 'agents': []}, 0),
    '/nonames/health': (200, {'status': 'ok', 'agents': [{'status': 'ok'}]}, 0),
    '/redirect/health': (300, {'status': 'ok', 'agents': {}}, 0),
    '/edge/health': (200, {'status': 'ok', 'agents': {
        'at_threshold': dict(QA, error_rate=0.05, fallback_rate=0.1),
        'texty': dict(QA, error_rate='high', fallback_rate=True, last_error='HTTP 401 for key %s' % KEY),
        'down_agent': dict(QA, status='down', last_error=None)}}, 0),
    '/badagents/health': (200, {'status': 'ok', 'agents': 'none here'}, 0),
    '/badagents/health/qa_agent': (200, dict(QA, agent='qa_agent'), 0),
    '/big/health': (200, dict(HEALTHY, padding='x' * (1024 * 1024)), 0),
}


def route(path):
    return EDGE_ROUTES.get(path, (404, b'no route', 0))


@pytest.fixture
def site(server, base, monkeypatch):  # pylint: disable=redefined-outer-name
    monkeypatch.setattr(server, 'dynamic', route, raising=False)
    return base


def without_latency(result):
    assert result.pop('latency_ms') is not None or result['status'] == 'unreachable'
    return result


def missing(where, field, expression, value, expected, agent=None):
    return {'code': 'missing_field', 'severity': 'warning', 'agent': agent,
            'message': 'health payload of %s: field %s (%s) is %s, expected %s' % (
                where, field, expression, 'missing' if value is None else repr(value), expected),
            'evidence': {'field': field, 'expression': expression, 'value': value}}


def test_missing_and_odd_fields_in_full(site):
    result = without_latency(HealthProbe().probe(site + '/odd'))
    statuses = 'one of ok, degraded, down'
    assert result['findings'] == [
        missing('the service', 'status', 'status', 'fine', statuses),
        missing('agent qa_agent', 'agent_status', 'status', 7, statuses, 'qa_agent'),
        missing('agent qa_agent', 'error_rate', 'error_rate', None, 'a number', 'qa_agent'),
        missing('agent qa_agent', 'fallback_rate', 'fallback_rate', None, 'a number', 'qa_agent'),
    ]
    assert result['agents'] == {'qa_agent': dict(EMPTY, model=FT)}
    assert (result['status'], result['healthy'], result['http_status']) == ('unknown', False, 200)


def test_an_unreachable_host_in_full():
    result = without_latency(HealthProbe(agents=['qa_agent', 'support_agent']).probe('http://127.0.0.1:9/'))
    message = result['findings'][0].pop('message')
    assert message.startswith('cannot connect to http://127.0.0.1:9/health: ')
    assert result == {'url': 'http://127.0.0.1:9', 'status': 'unreachable', 'healthy': False, 'http_status': None,
                      'version': None, 'started_at': None, 'config': None,
                      'agents': {'qa_agent': EMPTY, 'support_agent': EMPTY},
                      'findings': [{'code': 'unreachable', 'severity': 'critical', 'agent': None,
                                    'evidence': {'url': 'http://127.0.0.1:9/health'}}]}


def test_an_agent_is_asked_by_its_quoted_name(site):
    result = HealthProbe(agents=['a/b']).probe(site + '/quoted')
    assert result['findings'] == [] and result['agents'] == {'a/b': dict(QA_RESULT, http_status=200)}


def test_an_agent_request_ends_at_the_probes_deadline(site):
    probe = HealthProbe(agents=['qa_agent'], timeout=10)
    started = time.monotonic()
    result = probe.probe(site + '/slowagent', deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < SLOW - 0.5
    [late] = result['findings']
    assert (late['code'], late['agent']) == ('timeout', 'qa_agent')
    assert late['message'].startswith('no answer from %s/slowagent/health/qa_agent within 0.' % site)
    # /health listed it: its figures, with no HTTP status of its own
    assert result['agents'] == {'qa_agent': QA_RESULT}


def test_an_agent_its_endpoint_does_not_know_is_unknown_even_if_listed(site):
    result = HealthProbe(agents=['ghost']).probe(site + '/ghost')
    assert result['agents'] == {'ghost': dict(EMPTY, http_status=404)}
    assert result['findings'] == [{'code': 'unknown_agent', 'severity': 'warning', 'agent': 'ghost',
                                   'message': '%s/ghost/health/ghost does not know agent ghost (404)' % site,
                                   'evidence': {'url': '%s/ghost/health/ghost' % site, 'http_status': 404}}]
    assert (result['status'], result['healthy']) == ('ok', False)


DEGRADED_FINDINGS = [
    {'code': 'agent_degraded', 'severity': 'warning', 'agent': 'qa_agent', 'message': 'agent qa_agent reports degraded',
     'evidence': {'error_rate': 0.075, 'fallback_rate': 0.0083}},
    {'code': 'error_rate_high', 'severity': 'warning', 'agent': 'qa_agent',
     'message': 'agent qa_agent: error_rate 0.075 is above 0.05',
     'evidence': {'error_rate': 0.075, 'threshold': 0.05, 'requests': 1200, 'errors': 90, 'fallbacks': 10}},
]


def test_an_agent_endpoints_error_falls_back_to_the_listed_figures_and_their_findings(site):
    result = HealthProbe(agents=['qa_agent']).probe(site + '/deg500')
    assert result['findings'] == [
        {'code': 'http_error', 'severity': 'critical', 'agent': 'qa_agent',
         'message': '%s/deg500/health/qa_agent answered HTTP 500' % site,
         'evidence': {'url': '%s/deg500/health/qa_agent' % site, 'http_status': 500, 'body': 'oops'}}] + DEGRADED_FINDINGS
    assert result['agents']['qa_agent'] == dict(QA_RESULT, status='degraded', http_status=500, errors=90, error_rate=0.075)


def test_an_agent_endpoints_own_figures_and_findings(site):
    result = HealthProbe(agents=['qa_agent']).probe(site + '/degagent')
    assert result['findings'] == DEGRADED_FINDINGS
    assert result['agents']['qa_agent'] == dict(QA_RESULT, status='degraded', http_status=200, errors=90, error_rate=0.075)
    assert (result['status'], result['healthy']) == ('degraded', False)


@pytest.mark.parametrize('result, baseline, words', [
    ({'worse': ['qa_agent down (was ok)'], 'idle': ['b has served no request yet on m2 (was on m1)']}, {},
     'qa_agent down (was ok); b has served no request yet on m2 (was on m1)'),
    ({'worse': [], 'idle': ['b idle']}, {}, 'b idle'),
    ({'worse': None, 'idle': None}, {}, 'no worse than before'),
    ({}, {}, 'no worse than before'),
    ({'status': 'degraded', 'agents': {'b': {'status': 'down'}, 'a': {'status': 'degraded'}, 'c': {'status': 'ok'}}}, None,
     'a degraded, b down'),
    ({'status': 'unreachable', 'agents': {}}, None, 'service unreachable'),
    ({'status': 'ok', 'agents': {'a': {'status': 'ok'}}}, None, 'service ok'),
])
def test_what_a_wait_says_it_waits_for(result, baseline, words):
    assert waiting_for(result, baseline) == words


# ---- what is worse after a restart, at its edges ----

def probe_result(status='ok', config=None, **agents):
    return {'status': status, 'config': config if config is not None else {'use_finetuned': True, 'rollout_percentage': 100},
            'agents': agents}


def seen(status='ok', requests=10, model='m-ft', finetuned_model='m-ft', baseline_model='m-base'):
    return {'status': status, 'requests': requests, 'model': model, 'finetuned_model': finetuned_model,
            'baseline_model': baseline_model}


@pytest.mark.parametrize('after, before, worse', [
    # an agent the baseline lacks was ok before
    (probe_result('degraded', a=seen(), new=seen('degraded')), probe_result(a=seen()), ['new degraded (was ok)']),
    # a status nobody knows is the worst, before and after
    (probe_result(a=seen('sleeping')), probe_result(a=seen()), ['a sleeping (was ok)']),
    (probe_result(a=seen('sleeping')), probe_result(a=seen('sleeping')), []),
    (probe_result(a=seen('down')), probe_result(a=seen('sleeping')), []),
    # every agent is looked at, not only those before the first one that served requests
    (probe_result('down', a=seen(), b=seen('down')), probe_result(a=seen(), b=seen()), ['b down (was ok)']),
    # the service: worse than it was and than its agents say
    (probe_result('degraded', a=seen()), probe_result('degraded', a=seen()), []),
    (probe_result('degraded', a=seen()), {'agents': {'a': seen()}}, ['service degraded (was None)']),
    (probe_result('degraded', a=seen('odd')), probe_result(a=seen('odd')), ['service degraded (was ok)']),
])
def test_what_is_worse_at_the_edges(after, before, worse):
    assert worse_than(after, before) == (worse, [])


@pytest.mark.parametrize('config, worse', [
    ({'use_finetuned': True, 'rollout_percentage': 0}, ['a has served no request and routes to m-ft, not its configured model']),
    ({'use_finetuned': True, 'rollout_percentage': 1}, []),
    ({'use_finetuned': False}, ['a has served no request and routes to m-ft, not its configured model']),
    ('not a mapping', []),
])
def test_an_idle_agent_routes_by_its_config(config, worse):
    after = probe_result(config=config, a=seen(requests=0))
    assert worse_than(after, probe_result(a=seen()))[0] == worse


def test_findings_counted_by_code_and_a_down_service_fails_on_down():
    hosts = {'h1': {'status': 'down', 'healthy': False, 'agents': {'a': {'status': 'ok'}},
                    'findings': [{'code': 'service_down'}, {'code': 'missing_field'}, {'code': 'missing_field'}]}}
    assert summarize(hosts)['findings'] == {'service_down': 1, 'missing_field': 2}
    assert fails(hosts['h1'], 'down') is True
    assert fails({'status': 'ok', 'healthy': False, 'agents': {'a': {'status': 'down'}}}, 'down') is True
    assert fails({'status': 'degraded', 'healthy': False, 'agents': {'a': {'status': 'degraded'}}}, 'down') is False


def test_a_short_wait_cuts_its_one_probe_at_its_deadline(site):
    probe = HealthProbe(timeout=10)
    started = time.monotonic()
    result = probe.wait_healthy(site + '/slow', wait_timeout=0.6, wait_interval=0.1)
    assert time.monotonic() - started < 2.5 and result['attempts'] == 1 and result['status'] == 'unreachable'


# ---- payloads at their edges ----

def test_agents_given_as_a_list_by_agent_or_name(site):
    result = HealthProbe().probe(site + '/listed')
    assert result['agents'] == {'qa_agent': QA_RESULT, 'support_agent': QA_RESULT} and result['findings'] == []
    empty = HealthProbe().probe(site + '/emptylist')
    assert (empty['agents'], empty['findings']) == ({}, [])
    nameless = HealthProbe().probe(site + '/nonames')
    assert nameless['agents'] == {} and nameless['findings'] == [missing(
        'the service', 'agents', 'agents', [{'status': 'ok'}], 'an object of agents by name')]


def test_named_agents_with_an_unusable_agents_field_ask_their_endpoints(site):
    result = HealthProbe(agents=['qa_agent']).probe(site + '/badagents')
    assert result['agents'] == {'qa_agent': dict(QA_RESULT, http_status=200)} and result['findings'] == []


def test_figures_at_their_edges(site):
    result = HealthProbe().probe(site + '/edge')
    assert result['agents']['at_threshold']['status'] == 'ok'  # at the threshold is not above it
    assert result['agents']['texty'] == dict(QA_RESULT, error_rate=None, fallback_rate=None, last_error={
        'at': None, 'status': None, 'message': 'HTTP 401 for key ********'})
    assert result['agents']['down_agent'] == dict(QA_RESULT, status='down', last_error=None)
    assert result['findings'] == [
        missing('agent texty', 'error_rate', 'error_rate', 'high', 'a number', 'texty'),
        missing('agent texty', 'fallback_rate', 'fallback_rate', True, 'a number', 'texty'),
        {'code': 'agent_down', 'severity': 'critical', 'agent': 'down_agent', 'message': 'agent down_agent is down',
         'evidence': {'model': FT, 'last_error': None}},
        {'code': 'service_down', 'severity': 'critical', 'agent': None, 'message': '%s/edge: the service is down' % site,
         'evidence': {'url': site + '/edge', 'http_status': 200, 'reported': 'ok', 'agents_down': ['down_agent']}},
    ]


@pytest.mark.parametrize('path, code, message, body', [
    ('/garbage', 'not_json', 'answered HTTP 200 with a body that is not JSON', '{"status": "ok", "agents": {'),
    ('/proxy503', 'http_error', 'answered HTTP 503 without a health payload', '<html>503 Service Temporarily Unavailable</html>'),
    ('/redirect', 'http_error', 'answered HTTP 300', '{"status": "ok", "agents": {}}'),
])
def test_an_answer_without_a_health_payload_in_full(site, path, code, message, body):
    result = HealthProbe().probe(site + path)
    url = site + path + '/health'
    status = int(message.split('HTTP ')[1][:3])
    assert result['findings'] == [{'code': code, 'severity': 'critical', 'agent': None, 'message': '%s %s' % (url, message),
                                   'evidence': {'url': url, 'http_status': status, 'body': body}}]
    assert (result['status'], result['http_status'], result['agents']) == ('unknown', status, {})


# ---- TLS, proxies and the body cap, as the probe hands them to the request ----

@pytest.fixture(scope='module')
def tls_site(tmp_path_factory):
    """The same handler over HTTPS with a self-signed certificate (no CA vouches for it)."""
    folder = tmp_path_factory.mktemp('tls')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
                    '-keyout', str(folder / 'key.pem'), '-out', str(folder / 'cert.pem')], check=True, capture_output=True,
                   timeout=60)
    httpd = Server(('127.0.0.1', 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(folder / 'cert.pem'), str(folder / 'key.pem'))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield 'https://127.0.0.1:%d' % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_a_certificate_no_ca_vouches_for_is_refused_unless_told_otherwise(tls_site):
    refused = HealthProbe().probe(tls_site + '/healthy')
    assert refused['status'] == 'unreachable' and 'CERTIFICATE_VERIFY_FAILED' in refused['findings'][0]['message']
    assert HealthProbe(validate_certs=False).probe(tls_site + '/healthy')['healthy'] is True


def test_the_environments_proxy_is_used_unless_told_otherwise(site, monkeypatch):
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:9')  # nothing listens there
    monkeypatch.delenv('no_proxy', raising=False)
    monkeypatch.delenv('NO_PROXY', raising=False)
    through_proxy = HealthProbe().probe(site + '/healthy')
    assert through_proxy['status'] == 'unreachable' and '127.0.0.1:9' not in site
    assert HealthProbe(use_proxy=False).probe(site + '/healthy')['healthy'] is True


def test_a_body_past_one_mebibyte_is_cut_there(site):
    result = HealthProbe().probe(site + '/big')
    assert [item['code'] for item in result['findings']] == ['not_json']
