# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence of a complete failure, line by line as the on-call engineer reads it: where each line comes from
(ansible, health, host, mistral), for which agent, and its words; and what is not a complete failure (every agent
rate limited, or refused for its key)."""

from __future__ import annotations

import pytest

from tests.unit.plugins.plugin_utils.test_verdict import (
    AGENTS, AT, FP, HOSTS, agent, check, error, evidence, health, host, run, scenario, unreachable)

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
