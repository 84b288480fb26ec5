# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence of a complete failure, line by line as the on-call engineer reads it: where each line comes from
(ansible, health, host, mistral), for which agent, and its words; and what is not a complete failure (every agent
rate limited, or refused for its key)."""

from __future__ import annotations

import pytest

from tests.unit.plugins.plugin_utils.test_verdict import (
    AGENTS, AT, FP, HOSTS, MODELS, SPARE_FP, agent, check, error, evidence, gone, health, host, logs, mismatched_key_report,
    model_entry, run, scenario, unreachable)

PID_FILE = '/opt/genesis/run/genesis-orchestrator.pid'
STAMP = '2025-10-31T12:05:00Z'  # the diagnosis's time: what a line without its own time carries


def lines(item):
    return [(line['host'], line['agent'], line['source'], line['detail']) for line in item['evidence']]


def fleet(bad, mistral=None):
    hosts = dict((name, host()) for name in HOSTS)
    hosts['genesis-002'] = bad
    return run(evidence(hosts, mistral=mistral))


def dead_service():
    bad = host(unreachable())
    bad['service'] = {'pid': 99, 'running': False, 'started_at': '2025-10-31T11:00:00Z', 'pid_file': PID_FILE}
    return bad


@pytest.mark.parametrize('key,last', [
    (check(kind='connect', status=None), [('genesis-002', None, 'mistral', 'mistral: API unreachable from the controller (connect)')]),
    (check(kind='timeout', status=None), [('genesis-002', None, 'mistral', 'mistral: API unreachable from the controller (timeout)')]),
    (check(kind='server_error', status=502), [('genesis-002', None, 'mistral', 'mistral: API failing from the controller (HTTP 502)')]),
    (check(), []),
])
def test_a_dead_service_its_pid_file_and_what_the_api_says_from_the_controller(key, last):
    report = fleet(dead_service(), mistral={FP: key})
    item = scenario(report, 'complete_failure')
    assert lines(item) == [
        ('genesis-002', None, 'health', 'health: cannot connect to http://127.0.0.4:8080/health: [Errno 111] Connection refused'),
        ('genesis-002', None, 'host', 'service: %s names pid 99, which is not running (started at 2025-10-31T11:00:00Z)' % PID_FILE),
    ] + last
    assert all(line['at'] == STAMP and line['since'] is None for line in item['evidence'])
    assert item['hosts'] == ['genesis-002'] and item['agents'] == {'genesis-002': AGENTS}


def test_a_running_service_is_not_blamed_when_its_endpoint_is_silent():
    bad = host(unreachable())
    report = fleet(bad)
    assert [detail for _h, _a, source, detail in lines(scenario(report, 'complete_failure')) if source == 'host'] == []


def test_a_service_that_answers_down_without_any_agent():
    down = health()
    down.update(status='down', healthy=False, http_status=503, agents={}, findings=[])
    report = fleet(host(down))
    assert lines(scenario(report, 'complete_failure')) == [
        ('genesis-002', None, 'health', 'health: service down (HTTP 503), no agent reported')]


def every_agent(make):
    return host(health(**dict((name, make(name)) for name in AGENTS)))


def test_every_agent_down_each_with_its_own_line():
    report = fleet(every_agent(lambda name: agent(name, errors=120, last_error=error(503, 'HTTP 503: upstream unavailable'))))
    item = scenario(report, 'complete_failure')
    assert lines(item) == [('genesis-002', name, 'health', '%s down: error_rate 1.0, fallback_rate 0.0; last_error 503 HTTP 503: '
                            'upstream unavailable at %s' % (name, AT)) for name in AGENTS]


def test_an_agent_failing_every_call_counts_as_down_whatever_its_status_says():
    report = fleet(every_agent(lambda name: agent(name, status='degraded', errors=120)))
    assert [line[1] for line in lines(scenario(report, 'complete_failure'))] == AGENTS


def test_one_agent_still_answering_is_no_complete_failure():
    def make(name):
        return agent(name) if name == 'content_agent' else agent(name, errors=120, last_error=error(503, 'HTTP 503'))
    report = fleet(every_agent(make))
    assert 'complete_failure' not in [item['scenario'] for item in report['scenarios']]


def test_every_agent_rate_limited_is_a_rate_limit_not_a_complete_failure():
    report = fleet(every_agent(lambda name: agent(name, errors=120, last_error=error(429, 'HTTP 429: rate limited'))))
    assert 'complete_failure' not in [item['scenario'] for item in report['scenarios']]
    # one of them failing otherwise: the rate limit no longer explains all of it
    def make(name):
        status = 503 if name == 'qa_agent' else 429
        return agent(name, errors=120, last_error=error(status, 'HTTP %d' % status))
    report = fleet(every_agent(make))
    assert [line[1] for line in lines(scenario(report, 'complete_failure'))] == AGENTS


def test_every_agent_refused_for_its_key_is_credentials_not_a_complete_failure():
    report = fleet(every_agent(lambda name: agent(name, errors=120, last_error=error(401, 'HTTP 401: Unauthorized'))),
                   mistral={FP: check(authenticated=False, status=401, kind='auth')})
    assert [item['scenario'] for item in report['scenarios']][0] == 'credentials'
    assert 'complete_failure' not in [item['scenario'] for item in report['scenarios']]


# -- the other scenarios' lines: each for its agent ------------------------------------------------------------------

def test_credentials_lines_each_for_its_agent_and_the_key_for_the_host():
    report = mismatched_key_report()
    assert lines(scenario(report, 'credentials')) == (
        [('genesis-002', name, 'health', 'last_error 401 Unauthorized at %s' % AT) for name in AGENTS]
        + [('genesis-002', name, 'log', 'log: 24 auth (401/403/unauthorized) lines in 15 min') for name in AGENTS]
        + [('genesis-002', None, 'mistral', 'mistral: key fingerprint %s rejected (401)' % SPARE_FP)])


def test_model_unavailable_lines_for_the_agent_on_that_id():
    ft = MODELS['legal_agent'][0]
    falling_back = agent('legal_agent', fallbacks=120, last_error=error(400, 'Invalid model: %s' % ft))
    hosts = dict((name, host(health(legal_agent=falling_back), logs(legal_agent={'errors': 40, 'model_not_found': 40})))
                 for name in HOSTS[:2])
    report = run(evidence(hosts, mistral={FP: check(models={ft: gone(ft)})}))
    assert lines(scenario(report, 'model_unavailable')) == [line for name in HOSTS[:2] for line in (
        (name, 'legal_agent', 'mistral', 'mistral: %s not found (404)' % ft),
        (name, 'legal_agent', 'health', 'last_error 400 Invalid model: %s at %s' % (ft, AT)),
        (name, 'legal_agent', 'log', 'log: 40 model-not-found lines in 15 min'))]


def test_rate_limit_lines_for_the_agent_on_the_model_that_answered_429():
    ft = MODELS['qa_agent'][0]
    limited = agent('qa_agent', errors=9, fallbacks=30, last_error=error(429, 'Rate limit exceeded'))
    hosts = {'genesis-001': host(), 'genesis-002': host(health(qa_agent=limited), logs(qa_agent={'errors': 12, 'rate_limit': 12}))}
    report = run(evidence(hosts, mistral={FP: check(models={ft: model_entry(ft, status=429, kind='rate_limited')})}))
    answered = 'mistral: %s answered 429 for key fingerprint %s' % (ft, FP)
    assert lines(scenario(report, 'rate_limit')) == [
        ('genesis-001', 'qa_agent', 'mistral', answered),
        ('genesis-002', 'qa_agent', 'health', 'last_error 429 Rate limit exceeded at %s' % AT),
        ('genesis-002', 'qa_agent', 'log', 'log: 12 rate-limit lines in 15 min'),
        ('genesis-002', 'qa_agent', 'mistral', answered)]


def test_unknown_lines_for_the_failing_agent_only():
    flaky = agent('support_agent', errors=15, last_error=error(503, 'Service unavailable'))
    # qa_agent's few 5xx lines: an agent the health calls ok is not the unknown's evidence
    hosts = {'genesis-002': host(health(support_agent=flaky), logs(support_agent={'errors': 15, 'server_error': 15},
                                                                    qa_agent={'errors': 3, 'server_error': 3}),
                                 prometheus={'support_agent': 0.05, 'qa_agent': 0.0})}
    report = run(evidence(hosts))
    assert lines(scenario(report, 'unknown')) == [
        ('genesis-002', 'support_agent', 'health', 'health: support_agent degraded: error_rate 0.125, fallback_rate 0.0; '
                                                   'last_error 503 Service unavailable at %s' % AT),
        ('genesis-002', 'support_agent', 'prometheus', 'prometheus: 0.05 model errors/s over 5m'),
        ('genesis-002', 'support_agent', 'log', 'log: 15 5xx lines in 15 min'),
        ('genesis-002', 'support_agent', 'log', 'log: 15 error lines in 15 min')]


def test_unknown_lines_of_a_host_whose_agents_are_ok_its_findings_else_its_status():
    findings = health()
    findings.update(status='degraded', healthy=False, findings=[
        {'code': 'missing_field', 'severity': 'warning', 'agent': 'qa_agent', 'evidence': {},
         'message': 'health payload of agent qa_agent: field error_rate (error_rate) is missing, expected a number'},
        {'code': 'note', 'severity': 'info', 'agent': None, 'message': 'not evidence', 'evidence': {}}])
    assert lines(scenario(run(evidence({'genesis-001': host(findings)})), 'unknown')) == [
        ('genesis-001', 'qa_agent', 'health', 'health: health payload of agent qa_agent: field error_rate (error_rate) is '
                                              'missing, expected a number')]
    quiet = health()
    quiet.update(status='degraded', healthy=False)
    assert lines(scenario(run(evidence({'genesis-001': host(quiet)})), 'unknown')) == [
        ('genesis-001', None, 'health', 'health: service degraded')]
