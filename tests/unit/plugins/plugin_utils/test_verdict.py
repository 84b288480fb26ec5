# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis: evidence built from realistic module results -> the runbook's scenarios, and the report."""

from __future__ import annotations

import copy
import hashlib
import json
import os

import jsonschema
import pytest

from ansible_collections.genesis.model_ops.plugins.plugin_utils._report_markdown import report_markdown
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_report import diagnose
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_scenarios import ORDER

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
with open(os.path.join(ROOT, 'docs', 'diagnosis-report.schema.json'), encoding='utf-8') as handle:
    SCHEMA = json.load(handle)

KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'  # 32 alphanumerics, like a Mistral key; must never show
SPARE = 'Hs8dJ2kL5mN7pQ9rT1vW3xY6zA4bC0eF'
FP = hashlib.sha256(KEY.encode()).hexdigest()[:8]
SPARE_FP = hashlib.sha256(SPARE.encode()).hexdigest()[:8]

# the lab's agents (lab/catalog.py), in config order: not alphabetical, on purpose
MODELS = {
    'qa_agent': ('ft:ministral-8b-2512:587a6b29:20251014:7e773925', 'ministral-8b-2512'),
    'support_agent': ('ft:ministral-8b-2512:587a6b29:20251014:1c2d3e4f', 'ministral-8b-2512'),
    'legal_agent': ('ft:mistral-small-2506:587a6b29:20251015:9a8b7c6d', 'mistral-small-2506'),
    'analyst_agent': ('ft:mistral-small-2506:587a6b29:20251015:5f4e3d2c', 'mistral-small-2506'),
    'content_agent': ('ft:ministral-3b-2512:587a6b29:20251016:0b1a2c3d', 'ministral-3b-2512'),
}
AGENTS = list(MODELS)
HOSTS = ['genesis-001', 'genesis-002', 'genesis-003']
AT = '2025-10-31T12:03:00Z'


# -- builders: the shapes model_health, log_scan, mistral_check and host_evidence return ------------------

def agent(name, status=None, requests=120, errors=0, fallbacks=0, last_error=None, models=None):
    finetuned, baseline = (models or MODELS)[name]
    error_rate, fallback_rate = round(errors / requests, 4), round(fallbacks / requests, 4)
    if status is None:
        status = 'down' if errors == requests else 'degraded' if error_rate > 0.05 or fallback_rate > 0.10 else 'ok'
    return {'status': status, 'http_status': None, 'model': finetuned, 'finetuned_model': finetuned, 'baseline_model': baseline,
            'requests': requests, 'errors': errors, 'fallbacks': fallbacks, 'error_rate': error_rate,
            'fallback_rate': fallback_rate, 'last_error': last_error}


def error(status, message, at=AT):
    return {'at': at, 'status': status, 'message': message}


def health(url='http://localhost:8080', models=None, **agents):
    """A model_health per-host result; agents not given are ok."""
    models = models or MODELS
    figures = dict((name, agents.get(name) or agent(name, models=models)) for name in models)
    rank = {'ok': 0, 'degraded': 1, 'down': 2}
    status = max((item['status'] for item in figures.values()), key=rank.get)
    findings = []
    for name, item in figures.items():
        if item['status'] == 'down':
            findings.append({'code': 'agent_down', 'severity': 'critical', 'agent': name, 'message': 'agent %s is down' % name,
                             'evidence': {'model': item['model'], 'last_error': item['last_error']}})
        elif item['error_rate'] > 0.05:
            findings.append({'code': 'error_rate_high', 'severity': 'warning', 'agent': name,
                             'message': 'agent %s: error_rate %s is above 0.05' % (name, item['error_rate']), 'evidence': {}})
    if status == 'down':
        findings.append({'code': 'service_down', 'severity': 'critical', 'agent': None, 'message': '%s: the service is down' % url,
                         'evidence': {'url': url, 'http_status': 503}})
    return {'url': url, 'status': status, 'healthy': status == 'ok', 'http_status': 503 if status == 'down' else 200,
            'latency_ms': 4.2, 'version': '1.4.2', 'started_at': '2025-10-31T11:00:00Z',
            'config': {'use_finetuned': True, 'rollout_percentage': 100}, 'agents': figures, 'findings': findings, 'attempts': 1}


def unreachable(url='http://127.0.0.4:8080'):
    return {'url': url, 'status': 'unreachable', 'healthy': False, 'http_status': None, 'latency_ms': 1.0, 'version': None,
            'started_at': None, 'config': None, 'agents': {}, 'attempts': 1,
            'findings': [{'code': 'unreachable', 'severity': 'critical', 'agent': None,
                          'message': 'cannot connect to %s/health: [Errno 111] Connection refused' % url,
                          'evidence': {'url': url + '/health'}}]}


def logs(minutes=15, samples=None, **per_agent):
    """A log_scan result; per_agent: {agent: {category: lines}}."""
    categories = ('errors', 'rate_limit', 'auth', 'model_not_found', 'server_error')
    by_agent, counts = {}, dict.fromkeys(categories, 0)
    for name in AGENTS:
        found = per_agent.get(name, {})
        by_agent[name] = dict({'lines': 200}, **dict((category, found.get(category, 0)) for category in categories))
        for category in categories:
            counts[category] += by_agent[name][category]
    return {'path_glob': '/opt/genesis/logs/finetuning/*.log', 'files': [], 'window': {'lines': None, 'minutes': minutes, 'since': AT},
            'lines_scanned': 1000, 'unparsed_lines': 0, 'undecodable_bytes': 0, 'counts': counts, 'by_agent': by_agent,
            'by_status': {'200': 1000 - counts['errors']}, 'samples': samples or {},
            'first_seen': {}, 'last_seen': {}, 'findings': []}


def config(models=None, use_finetuned=True, rollout=100, **agent_flags):
    models = models or MODELS
    return {'path': '/opt/genesis/infrastructure/config/production.yaml', 'exists': True, 'mtime': 1761900000.0, 'age_s': 86400,
            'use_finetuned': use_finetuned, 'rollout_percentage': rollout,
            'agents': dict((name, {'finetuned': ft, 'baseline': base, 'use_finetuned': agent_flags.get(name, True)})
                           for name, (ft, base) in models.items())}


def host(health_result=None, logs_result=None, config_result=None, fingerprint=FP, controller=FP, reachable=True,
         recent_changes=(), prometheus=None):
    return {'reachable': reachable, 'health': health() if health_result is None else health_result,
            'logs': logs() if logs_result is None else logs_result,
            'config': config() if config_result is None else config_result,
            'service': {'pid': 4242, 'running': True, 'started_at': '2025-10-31T11:00:00Z', 'age_s': 3600},
            'key': {'present': True, 'fingerprint': fingerprint}, 'recent_changes': list(recent_changes),
            'prometheus': prometheus, 'api_key_fingerprint': controller}


def model_entry(model_id, exists=True, status=200, kind=None, retired=False, retired_on=None, replacement=None,
                deprecated=False, deprecation=None, archived=False):
    return {'checked': True, 'exists': exists, 'type': 'fine-tuned' if model_id.startswith('ft:') else 'base',
            'archived': archived, 'deprecated': deprecated, 'deprecation': deprecation, 'retired': retired,
            'retired_on': retired_on, 'replacement': replacement, 'http_status': status, 'error_kind': kind,
            'message': 'available' if exists else ('retired on %s; replacement %s' % (retired_on, replacement) if retired
                                                   else 'HTTP %s: Invalid model: %s' % (status, model_id))}


def gone(model_id, status=404, kind='not_found', **kwargs):
    return model_entry(model_id, exists=False, status=status, kind=kind, **kwargs)


def check(fingerprint=FP, authenticated=True, status=200, kind=None, models=None, limited=0, headers=None, retry_after=None,
          api_calls=None, tokens=0, model_ids=None):
    """A mistral_check result; models: {id: entry} overriding the default all-available ones."""
    ids = model_ids or sorted(set(model for pair in MODELS.values() for model in pair))
    entries = dict((model_id, model_entry(model_id)) for model_id in ids)
    if authenticated is False:
        for model_id in ids:
            entries[model_id] = dict(entries[model_id], checked=False, exists=None, http_status=status, error_kind='auth',
                                     message='not checked: the key check failed (auth)')
    entries.update(models or {})
    return {'key': {'authenticated': authenticated, 'status': status, 'error_kind': kind,
                    'message': 'HTTP %s: Unauthorized' % status if authenticated is False else None, 'fingerprint': fingerprint},
            'models': entries,
            'rate_limit': {'headers': headers or {'x-ratelimit-remaining-req-minute': '58'}, 'retry_after': retry_after,
                           'limited': limited, 'waited': 0.0},
            'api_calls': len(ids) + 1 if api_calls is None else api_calls, 'tokens_spent': tokens,
            'summary': {}, 'findings': []}


def evidence(hosts=None, mistral=None, prometheus=True, **settings):
    if hosts is None:
        hosts = dict((name, host()) for name in HOSTS)
    if prometheus is True:
        prometheus = {'available': True, 'query': 'rate(model_errors_total[5m])', 'findings': []}
    return {'hosts': hosts, 'mistral': {FP: check()} if mistral is None else mistral, 'prometheus': prometheus,
            'settings': dict({'error_rate_threshold': 0.05, 'fallback_rate_threshold': 0.10, 'playbook_dir': None,
                              'generated_at': '2025-10-31T12:05:00Z', 'duration_s': 12.5, 'target': 'genesis'}, **settings)}


def run(ev):
    """diagnose() plus what every report must be: valid, pure, free of key material."""
    before = copy.deepcopy(ev)
    report = diagnose(ev)
    assert ev == before, 'diagnose changed its input'
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    text = json.dumps(report) + report_markdown(report)
    assert KEY not in text and SPARE not in text
    # the same evidence in another order (hosts, keys, settings) gives the same report, in the same order
    shuffled = dict(reversed(list(copy.deepcopy(ev).items())))
    for name in ('hosts', 'mistral', 'settings'):
        if isinstance(shuffled.get(name), dict):
            shuffled[name] = dict(reversed(list(shuffled[name].items())))
    assert json.dumps(diagnose(shuffled)) == json.dumps(report), 'the report depends on the order of the evidence'
    return report


def scenario(report, name):
    found = [item for item in report['scenarios'] if item['scenario'] == name]
    assert found, '%s not in %s' % (name, [item['scenario'] for item in report['scenarios']])
    return found[0]


def details(item):
    return [line['detail'] for line in item['evidence']]


def codes(report):
    return [item['code'] for item in report['supporting']]


# -- healthy --------------------------------------------------------------------------------------------


def test_healthy_fleet():
    report = run(evidence())
    assert report['verdict'] == 'healthy'
    assert report['scenarios'] == []
    assert report['supporting'] == []
    assert report['summary'] == {'hosts': 3, 'healthy': 3, 'by_status': {'ok': 3, 'degraded': 0, 'down': 0, 'unreachable': 0, 'unknown': 0},
                                 'by_scenario': {}}
    assert list(report['hosts']) == HOSTS
    assert all(item['status'] == 'ok' and item['scenarios'] == [] for item in report['hosts'].values())
    assert list(report['hosts']['genesis-001']['agents']) == AGENTS
    assert report['api_calls'] == 9 and report['tokens_spent'] == 0
    assert report['mistral']['keys'] == {FP: {'authenticated': True, 'status': 200, 'error_kind': None, 'message': None,
                                              'rate_limited': False, 'retry_after': None,
                                              'quota': {'req-minute': {'limit': None, 'remaining': 58}},
                                              'checked_at': None, 'elapsed_s': None, 'api_calls': 9, 'retry_wait_s': 0.0,
                                              'tokens_spent': 0}}
    assert report['api_budget'] == 9 and report['earlier'] == []


def test_old_errors_on_ok_agents_are_no_incident():
    # after a fix: the window still holds a 429 and a 401, the log a few such lines, but every agent is ok
    ok_with_history = agent('qa_agent', errors=2, last_error=error(429, 'Rate limit exceeded'))
    hosts = {'genesis-001': host(health(qa_agent=ok_with_history, support_agent=agent('support_agent', errors=1, last_error=error(401, 'Unauthorized'))),
                                 logs(qa_agent={'errors': 2, 'rate_limit': 2}, support_agent={'errors': 1, 'auth': 1}))}
    report = run(evidence(hosts))
    assert report['verdict'] == 'healthy'
    assert report['hosts']['genesis-001']['agents']['qa_agent']['last_error']['status'] == 429


# -- one scenario each --------------------------------------------------------------------------------------


def mismatched_key_report():
    """genesis-002's env file holds another key, which the API refuses (401) for every agent."""
    refused = dict((name, agent(name, errors=120, last_error=error(401, 'Unauthorized'))) for name in AGENTS)
    hosts = dict((name, host()) for name in HOSTS)
    hosts['genesis-002'] = host(health(**refused), logs(**dict((name, {'errors': 24, 'auth': 24}) for name in AGENTS)),
                                fingerprint=SPARE_FP)
    return run(evidence(hosts, mistral={FP: check(), SPARE_FP: check(SPARE_FP, authenticated=False, status=401, kind='auth')}))


def test_credentials_on_one_host_with_a_mismatching_key():
    report = mismatched_key_report()
    assert report['verdict'] == 'credentials'
    assert [item['scenario'] for item in report['scenarios']] == ['credentials']  # not complete_failure: 401 explains it
    item = scenario(report, 'credentials')
    assert item['hosts'] == ['genesis-002']
    assert item['agents'] == {'genesis-002': AGENTS}
    assert item['command'] == 'ansible-playbook remediate_credentials.yml --limit genesis-002'
    assert item['runbook'] == 'Scenario 1: API Credentials Issue'
    assert 'last_error 401 Unauthorized at %s' % AT in details(item)
    assert 'log: 24 auth (401/403/unauthorized) lines in 15 min' in details(item)
    assert 'mistral: key fingerprint %s rejected (401)' % SPARE_FP in details(item)
    mismatch = [entry for entry in report['supporting'] if entry['code'] == 'key_mismatch']
    assert mismatch == [{'code': 'key_mismatch', 'hosts': ['genesis-002'], 'agents': {},
                         'detail': 'genesis-002: env file key %s, controller key %s' % (SPARE_FP, FP)}]
    assert report['hosts']['genesis-002']['scenarios'] == ['credentials']
    assert report['hosts']['genesis-001']['scenarios'] == []
    assert report['mistral']['keys'][SPARE_FP]['authenticated'] is False


def test_credentials_from_mistral_alone_on_every_host_has_no_limit():
    report = run(evidence(mistral={FP: check(authenticated=False, status=403, kind='auth')}))
    item = scenario(report, 'credentials')
    assert item['hosts'] == HOSTS
    assert item['command'] == 'ansible-playbook remediate_credentials.yml'
    assert details(item)[0] == 'mistral: key fingerprint %s rejected (403)' % FP


def test_a_host_down_among_healthy_ones():
    hosts = dict((name, host()) for name in HOSTS)
    hosts['genesis-003'] = host(unreachable(), logs())
    report = run(evidence(hosts))
    assert report['verdict'] == 'complete_failure'
    item = scenario(report, 'complete_failure')
    assert item['hosts'] == ['genesis-003']
    assert item['agents'] == {'genesis-003': AGENTS}
    assert item['command'] == 'ansible-playbook remediate_complete_failure.yml --limit genesis-003'
    assert details(item) == ['health: cannot connect to http://127.0.0.4:8080/health: [Errno 111] Connection refused']
    assert report['hosts']['genesis-003']['status'] == 'unreachable'
    assert report['summary']['healthy'] == 2
    assert report['summary']['by_status']['unreachable'] == 1


def test_a_host_ansible_cannot_reach():
    hosts = {'genesis-001': host(), 'genesis-002': {'reachable': False, 'health': None, 'logs': None, 'config': None, 'service': None,
                                                    'key': None, 'recent_changes': [], 'prometheus': None, 'api_key_fingerprint': FP}}
    report = run(evidence(hosts))
    item = scenario(report, 'complete_failure')
    assert item['hosts'] == ['genesis-002'] and item['agents'] == {'genesis-002': []}
    assert details(item) == ['ansible: host unreachable']
    assert report['hosts']['genesis-002'] == {'status': 'unreachable', 'reachable': False, 'started_at': None,
                                              'scenarios': ['complete_failure'], 'agents': {}, 'findings': []}
    assert len(report['scenarios']) == 1  # no unknown on top of it


def test_every_agent_down_with_the_fallback_failing():
    down = dict((name, agent(name, errors=120, last_error=error(503, 'HTTP 503: upstream unavailable (%s)' % MODELS[name][1])))
                for name in AGENTS)
    hosts = {'genesis-001': host(health(**down), logs(**dict((name, {'errors': 48, 'server_error': 48}) for name in AGENTS)))}
    report = run(evidence(hosts))
    item = scenario(report, 'complete_failure')
    assert item['command'] == 'ansible-playbook remediate_complete_failure.yml'
    assert details(item)[0] == ('qa_agent down: error_rate 1.0, fallback_rate 0.0; last_error 503 HTTP 503: upstream unavailable'
                                ' (ministral-8b-2512) at %s (on the baseline ministral-8b-2512)' % AT)
    assert [line['agent'] for line in item['evidence']] == AGENTS
    assert [entry['scenario'] for entry in report['scenarios']] == ['complete_failure']


def test_model_unavailable_only_the_agents_on_that_id():
    ft = MODELS['legal_agent'][0]
    falling_back = agent('legal_agent', fallbacks=120, last_error=error(400, 'Invalid model: %s' % ft))
    hosts = dict((name, host(health(legal_agent=falling_back), logs(legal_agent={'errors': 40, 'model_not_found': 40}))) for name in HOSTS)
    report = run(evidence(hosts, mistral={FP: check(models={ft: gone(ft)})}))
    assert report['verdict'] == 'model_unavailable'
    item = scenario(report, 'model_unavailable')
    assert item['hosts'] == HOSTS
    assert item['agents'] == dict((name, ['legal_agent']) for name in HOSTS)
    assert item['command'] == 'ansible-playbook remediate_model_unavailable.yml'
    assert item['runbook'] == 'Scenario 3: Model Unavailable'
    assert item['runbook_link'] == 'docs/model-failure-runbook.md#scenario-3-model-unavailable'
    assert 'mistral: %s not found (404)' % ft in details(item)
    assert 'last_error 400 Invalid model: %s at %s' % (ft, AT) in details(item)
    assert 'log: 40 model-not-found lines in 15 min' in details(item)
    assert report['mistral']['models'][ft]['exists'] is False
    assert 'fallback_not_viable' not in codes(report)


def test_older_log_lines_of_another_kind_do_not_add_a_scenario():
    # a 401 and 429 incident ten minutes ago, fixed; now a deleted model: only model_unavailable holds
    ft = MODELS['qa_agent'][0]
    falling_back = agent('qa_agent', fallbacks=120, last_error=error(400, 'Invalid model: %s' % ft))
    history = logs(qa_agent={'errors': 90, 'auth': 40, 'rate_limit': 37, 'model_not_found': 13},
                   support_agent={'errors': 40, 'auth': 40})
    hosts = dict((name, host(health(qa_agent=falling_back), history)) for name in HOSTS)
    report = run(evidence(hosts, mistral={FP: check(models={ft: gone(ft)})}))
    assert [item['scenario'] for item in report['scenarios']] == ['model_unavailable']
    assert 'log: 13 model-not-found lines in 15 min' in details(scenario(report, 'model_unavailable'))


def test_log_lines_count_as_they_are_without_health_figures():
    # the service answers, but with a payload the probe cannot read: its log is all there is to go by
    unreadable = dict(health(), status='unknown', agents={}, findings=[
        {'code': 'missing_field', 'severity': 'warning', 'agent': None, 'message': 'health payload of the service: field agents',
         'evidence': {}}])
    hosts = {'genesis-001': host(unreadable, logs(qa_agent={'errors': 40, 'rate_limit': 40}))}
    report = run(evidence(hosts))
    item = scenario(report, 'rate_limit')
    assert item['agents'] == {'genesis-001': ['qa_agent']} and report['earlier'] == []


def test_model_unavailable_under_a_retired_baseline():
    # the runbook's own models: open-mistral-7b, retired on 2025-03-30
    models = dict(MODELS, qa_agent=('ft:open-mistral-7b:587a6b29:20240514:7e773925', 'open-mistral-7b'))
    ft = models['qa_agent'][0]
    dead = agent('qa_agent', errors=120, models=models, last_error=error(400, 'Invalid model: open-mistral-7b'))
    hosts = dict((name, host(health(models=models, qa_agent=dead), config_result=config(models))) for name in HOSTS[:2])
    mistral = {FP: check(model_ids=sorted(set(model for pair in models.values() for model in pair)), models={
        ft: gone(ft, retired=True, retired_on='2025-03-30', replacement='ministral-8b-latest'),
        'open-mistral-7b': gone('open-mistral-7b', retired=True, retired_on='2025-03-30', replacement='ministral-8b-latest')})}
    report = run(evidence(hosts, mistral=mistral))
    item = scenario(report, 'model_unavailable')
    assert item['agents'] == {'genesis-001': ['qa_agent'], 'genesis-002': ['qa_agent']}
    assert 'mistral: %s retired on 2025-03-30 (404); replacement ministral-8b-latest' % ft in details(item)
    # the 400 names the baseline: it is the fallback failing, not evidence on the fine-tuned id
    assert not any(detail.startswith('last_error') for detail in details(item))
    support = [entry for entry in report['supporting'] if entry['code'] == 'fallback_not_viable']
    assert len(support) == 1
    assert support[0]['hosts'] == ['genesis-001', 'genesis-002']
    assert support[0]['agents'] == {'genesis-001': ['qa_agent'], 'genesis-002': ['qa_agent']}
    assert 'open-mistral-7b retired on 2025-03-30' in support[0]['detail'] and 'ministral-8b-latest' in support[0]['detail']
    assert [entry['scenario'] for entry in report['scenarios']] == ['model_unavailable']


def test_every_agent_on_a_deleted_model_and_a_retired_baseline_is_also_a_complete_failure():
    models = dict((name, ('ft:open-mistral-7b:587a6b29:20240514:%08d' % index, 'open-mistral-7b')) for index, name in enumerate(AGENTS))
    dead = dict((name, agent(name, errors=120, models=models, last_error=error(400, 'Invalid model: open-mistral-7b'))) for name in AGENTS)
    retired = dict((model_id, gone(model_id, retired=True, retired_on='2025-03-30', replacement='ministral-8b-latest'))
                   for pair in models.values() for model_id in pair)
    report = run(evidence({'genesis-001': host(health(models=models, **dead), config_result=config(models))},
                          mistral={FP: check(model_ids=sorted(retired), models=retired)}))
    assert [item['scenario'] for item in report['scenarios']] == ['complete_failure', 'model_unavailable']
    assert scenario(report, 'model_unavailable')['agents'] == {'genesis-001': AGENTS}
    assert 'fallback_not_viable' in codes(report)


def test_rate_limit_on_some_hosts_only():
    limited = agent('qa_agent', errors=9, fallbacks=30, last_error=error(429, 'Rate limit exceeded'))
    sample = {'rate_limit': [{'file': '/opt/genesis/logs/finetuning/qa_agent.log',
                              'line': '2025-10-31T12:03:00.123Z ERROR agent=qa_agent model=%s status=429 error="Rate limit exceeded"'
                                      % MODELS['qa_agent'][0]}]}
    hosts = dict((name, host()) for name in HOSTS + ['genesis-004'])
    for name in ('genesis-004', 'genesis-002'):
        hosts[name] = host(health(qa_agent=limited), logs(samples=sample, qa_agent={'errors': 12, 'rate_limit': 12}))
    report = run(evidence(hosts))
    assert report['verdict'] == 'rate_limit'
    item = scenario(report, 'rate_limit')
    assert item['hosts'] == ['genesis-002', 'genesis-004']
    assert item['agents'] == {'genesis-002': ['qa_agent'], 'genesis-004': ['qa_agent']}
    assert item['command'] == 'ansible-playbook remediate_rate_limit.yml --limit genesis-002,genesis-004'
    assert details(item)[:3] == ['last_error 429 Rate limit exceeded at %s' % AT, 'log: 12 rate-limit lines in 15 min',
                                 'log sample: %s' % sample['rate_limit'][0]['line']]
    assert [line['host'] for line in item['evidence']] == ['genesis-002'] * 3 + ['genesis-004'] * 3
    assert report['summary']['healthy'] == 2


def test_a_chart_for_each_failing_agent_from_prometheus_else_from_its_log_lines():
    limited = agent('qa_agent', errors=9, fallbacks=30, last_error=error(429, 'Rate limit exceeded'))
    minutes = {'qa_agent': [['2025-10-31T12:02:00.000Z', 30, 0, 0], ['2025-10-31T12:03:00.000Z', 31, 9, 9], ['bad row']],
               'legal_agent': [['2025-10-31T12:03:00.000Z', 30, 0, 0]]}
    from_logs = host(health(qa_agent=limited), dict(logs(qa_agent={'errors': 9, 'rate_limit': 9}), by_agent_minute=minutes))
    from_prometheus = dict(from_logs, prometheus_chart={'qa_agent': [['2025-10-31T12:03:00.000Z', 12.0, None]]})
    hosts = {'genesis-001': host(), 'genesis-002': from_logs, 'genesis-003': from_prometheus}
    report = run(evidence(hosts, log_minutes='15'))
    window = {'from': '2025-10-31T11:50:00Z', 'to': '2025-10-31T12:05:00Z'}  # the log window, up to the report
    assert report['charts'] == [
        {'host': 'genesis-002', 'agent': 'qa_agent', 'unit': 'per minute', 'window': window, 'source': 'logs',
         'points': [['2025-10-31T12:02:00.000Z', 0, 0], ['2025-10-31T12:03:00.000Z', 9, 9]]},
        {'host': 'genesis-003', 'agent': 'qa_agent', 'unit': 'per minute', 'window': window, 'source': 'prometheus',
         'points': [['2025-10-31T12:03:00.000Z', 12.0, None]]}]
    # a healthy fleet: no chart
    assert run(evidence())['charts'] == []


def test_rate_limit_from_mistral_headers_and_a_log_window_in_lines():
    headers = {'x-ratelimit-limit-req-minute': '60', 'x-ratelimit-remaining-req-minute': '0', 'x-ratelimit-remaining-tokens-minute': '0'}
    scan = logs(minutes=None, qa_agent={'rate_limit': 5})
    scan['window'] = {'lines': 1000, 'minutes': None, 'since': None}
    hosts = {'genesis-001': host(health(qa_agent=agent('qa_agent', fallbacks=20)), scan), 'genesis-002': host()}
    limited = check(limited=1, headers=headers, retry_after=5.0, status=429, kind='rate_limited')
    limited['key']['headers'] = dict(headers, **{'retry-after': '5'})
    report = run(evidence(hosts, mistral={FP: limited}))
    item = scenario(report, 'rate_limit')
    assert item['hosts'] == ['genesis-001', 'genesis-002']  # the key's limit is evidence for every host that uses it
    # ... but not a claim that every agent fails: only qa_agent shows it
    assert item['agents'] == {'genesis-001': ['qa_agent'], 'genesis-002': []}
    assert 'log: 5 rate-limit lines in the last 1000 lines of each file' in details(item)
    assert ('mistral: key fingerprint %s at its rate limit: the key check answered 429; Retry-After 5 s; '
            'req-minute 0 of 60 left, tokens-minute 0 of ? left' % FP) in details(item)
    assert report['mistral']['keys'][FP]['rate_limited'] is True
    assert report['mistral']['keys'][FP]['quota'] == {'req-minute': {'limit': 60, 'remaining': 0},
                                                      'tokens-minute': {'limit': None, 'remaining': 0}}
    at_risk = [entry for entry in report['supporting'] if entry['code'] == 'key_rate_limited']
    assert len(at_risk) == 1 and at_risk[0]['hosts'] == ['genesis-001', 'genesis-002']
    assert at_risk[0]['detail'].startswith('key fingerprint %s rate limited (the key check answered 429' % FP)
    assert 'every agent on this key is at risk' in at_risk[0]['detail']


def test_unknown_when_only_5xx_on_some_agents():
    flaky = agent('support_agent', errors=15, last_error=error(503, 'Service unavailable'))
    hosts = {'genesis-001': host(), 'genesis-002': host(health(support_agent=flaky), logs(support_agent={'errors': 15, 'server_error': 15}),
                                                        prometheus={'support_agent': 0.05, 'qa_agent': 0.0})}
    report = run(evidence(hosts))
    assert report['verdict'] == 'unknown'
    item = scenario(report, 'unknown')
    assert item['hosts'] == ['genesis-002'] and item['agents'] == {'genesis-002': ['support_agent']}
    assert item['command'] == 'ansible-playbook diagnose.yml --limit genesis-002 -v'
    assert details(item) == ['health: support_agent degraded: error_rate 0.125, fallback_rate 0.0; last_error 503 Service unavailable at %s' % AT,
                             'prometheus: 0.05 model errors/s over 5m', 'log: 15 5xx lines in 15 min', 'log: 15 error lines in 15 min']
    assert report['hosts']['genesis-002']['status'] == 'degraded'


def test_unknown_for_a_host_whose_health_answer_is_unusable():
    broken = {'url': 'http://localhost:8080', 'status': 'unknown', 'healthy': False, 'http_status': 502, 'agents': {},
              'findings': [{'code': 'http_error', 'severity': 'critical', 'agent': None,
                            'message': 'http://localhost:8080 answered HTTP 502', 'evidence': {'http_status': 502}}]}
    report = run(evidence({'genesis-001': host(broken)}))
    item = scenario(report, 'unknown')
    assert item['agents'] == {'genesis-001': []}
    assert details(item) == ['health: http://localhost:8080 answered HTTP 502']
    assert report['hosts']['genesis-001']['findings'][0]['source'] == 'health'


# -- several at once, and ordering --------------------------------------------------------------------------


def test_scenarios_in_the_order_to_handle_them():
    ft = MODELS['content_agent'][0]
    refused = dict((name, agent(name, errors=120, last_error=error(403, 'Forbidden'))) for name in AGENTS)
    limited = agent('qa_agent', errors=10, last_error=error(429, 'Rate limit exceeded'))
    flaky = agent('analyst_agent', errors=10, last_error=error('timeout', 'no answer within 3s'))
    hosts = {'genesis-003': host(health(qa_agent=limited, analyst_agent=flaky)), 'genesis-001': host(health(**refused)),
             'genesis-002': host()}
    report = run(evidence(hosts, mistral={FP: check(models={ft: gone(ft, status=400, kind='invalid_model')})}))
    assert [item['scenario'] for item in report['scenarios']] == ['credentials', 'model_unavailable', 'rate_limit', 'unknown']
    assert report['verdict'] == 'credentials'
    assert scenario(report, 'model_unavailable')['hosts'] == HOSTS
    assert 'mistral: %s invalid_model (400)' % ft in details(scenario(report, 'model_unavailable'))
    assert scenario(report, 'rate_limit')['agents'] == {'genesis-003': ['qa_agent']}
    assert scenario(report, 'unknown')['agents'] == {'genesis-003': ['analyst_agent']}
    assert report['hosts']['genesis-003']['scenarios'] == ['model_unavailable', 'rate_limit', 'unknown']
    assert report['summary']['by_scenario'] == {'credentials': 1, 'model_unavailable': 3, 'rate_limit': 1, 'unknown': 1}
    assert list(report['hosts']) == HOSTS



def test_all_five_in_one_report_in_the_order_to_handle_them():
    # every scenario at once, each on its own host, the hosts named against the order (z.. first):
    # the report lists them credentials, complete_failure, model_unavailable, rate_limit, unknown,
    # the verdict is the first, and each host lists its own in that order too
    ft = MODELS['content_agent'][0]
    refused = dict((name, agent(name, errors=120, last_error=error(401, 'Unauthorized'))) for name in AGENTS)
    limited = agent('qa_agent', errors=10, last_error=error(429, 'Rate limit exceeded'))
    flaky = agent('analyst_agent', errors=10, last_error=error('timeout', 'no answer within 3s'))
    hosts = {'genesis-001': host(health(qa_agent=limited, analyst_agent=flaky)), 'genesis-002': host(),
             'genesis-003': host(unreachable(), logs()), 'genesis-004': host(health(**refused), fingerprint=SPARE_FP)}
    mistral = {FP: check(models={ft: gone(ft)}), SPARE_FP: check(SPARE_FP, authenticated=False, status=401, kind='auth')}
    report = run(evidence(hosts, mistral=mistral))
    assert [item['scenario'] for item in report['scenarios']] == [
        'credentials', 'complete_failure', 'model_unavailable', 'rate_limit', 'unknown']
    assert report['verdict'] == 'credentials'
    assert scenario(report, 'credentials')['hosts'] == ['genesis-004']
    assert scenario(report, 'complete_failure')['hosts'] == ['genesis-003']
    assert report['hosts']['genesis-001']['scenarios'] == ['model_unavailable', 'rate_limit', 'unknown']
    assert list(report['summary']['by_scenario']) == [item['scenario'] for item in report['scenarios']]
    markdown = report_markdown(report)
    headings = [markdown.index(item['title']) for item in report['scenarios']]
    assert headings == sorted(headings), 'the markdown lists the scenarios in another order than the report'
    # without the refused key, the host that does not answer comes first
    del hosts['genesis-004']
    assert run(evidence(hosts, mistral={FP: mistral[FP]}))['verdict'] == 'complete_failure'


def test_agents_in_config_order_and_hosts_sorted():
    reordered = dict((name, MODELS[name]) for name in reversed(AGENTS))
    slow = dict((name, agent(name, errors=10, last_error=error(429, 'Rate limit exceeded'), models=reordered)) for name in AGENTS)
    hosts = {'genesis-010': host(health(models=reordered, **slow), config_result=config(reordered)),
             'genesis-002': host(health(models=reordered, **slow), config_result=config(reordered))}
    report = run(evidence(hosts))
    item = scenario(report, 'rate_limit')
    assert item['hosts'] == ['genesis-002', 'genesis-010']
    assert item['agents']['genesis-010'] == list(reversed(AGENTS))
    assert list(report['hosts']['genesis-010']['agents']) == list(reversed(AGENTS))


def test_stricter_thresholds_from_the_settings():
    borderline = agent('qa_agent', errors=4, fallbacks=10, last_error=error(429, 'Rate limit exceeded'))  # 0.033 / 0.083: ok at 0.05 / 0.10
    hosts = {'genesis-001': host(health(qa_agent=borderline))}
    assert run(evidence(hosts))['verdict'] == 'healthy'
    report = run(evidence(hosts, error_rate_threshold=0.02, fallback_rate_threshold=0.05))
    assert report['verdict'] == 'rate_limit'
    assert report['hosts']['genesis-001']['status'] == 'degraded'
    assert report['thresholds'] == {'error_rate': 0.02, 'fallback_rate': 0.05}


# -- supporting findings -----------------------------------------------------------------------------------


def test_prometheus_absent_or_unavailable_is_supporting_not_an_error():
    report = run(evidence(prometheus=None))
    assert report['verdict'] == 'healthy'
    assert report['supporting'] == [{'code': 'prometheus_unavailable', 'hosts': [], 'agents': {},
                                     'detail': 'Prometheus was not queried: error rates come from /health only'}]
    down = {'available': False, 'query': 'rate(model_errors_total[5m])',
            'findings': [{'code': 'unreachable', 'message': 'cannot connect to http://localhost:9090'}]}
    report = run(evidence(prometheus=down))
    assert report['supporting'][0]['detail'] == ('Prometheus not available (cannot connect to http://localhost:9090): '
                                                 'error rates come from /health only')


def test_recent_changes_ride_along():
    # as host_evidence reports them
    changes = [{'code': 'config_modified', 'at': '2025-10-31T11:58:00Z', 'detail': {'path': '/opt/genesis/infrastructure/config/production.yaml'}},
               {'code': 'service_restarted', 'at': '2025-10-31T11:59:00Z', 'detail': {'pid': 4242, 'running': True}},
               {'code': 'audited_change', 'at': '2025-10-31T11:59:30Z', 'detail': {'module': 'rollout_set', 'new': 5, 'old': 100}}]
    limited = agent('qa_agent', errors=10, last_error=error(429, 'Rate limit exceeded'))
    hosts = {'genesis-001': host(health(qa_agent=limited), recent_changes=changes), 'genesis-002': host(recent_changes=changes[1:2])}
    report = run(evidence(hosts))
    assert codes(report) == ['key_rate_limited', 'recent_config_change', 'service_restarted', 'audited_change']
    assert report['supporting'][0]['hosts'] == ['genesis-001', 'genesis-002']  # both hold the key qa_agent is limited on
    assert report['supporting'][1]['hosts'] == ['genesis-001']
    assert report['supporting'][1]['detail'] == 'genesis-001 at 2025-10-31T11:58:00Z: path=/opt/genesis/infrastructure/config/production.yaml'
    assert report['supporting'][2]['hosts'] == ['genesis-001', 'genesis-002']
    assert report['supporting'][3]['detail'] == 'genesis-001 at 2025-10-31T11:59:30Z: module=rollout_set, new=5, old=100'


def test_settings_given_as_text_and_a_failed_mistral_check():
    failed = {'failed': True, 'msg': 'Failed to import the required Python library (mistralai)', 'item': FP, 'changed': False}
    report = run(evidence({'genesis-001': host()}, mistral={FP: failed}, duration_s='12.50', error_rate_threshold='0.05'))
    assert report['verdict'] == 'healthy'
    assert report['duration_s'] == 12.5
    assert report['supporting'] == [{'code': 'mistral_check_failed', 'hosts': [], 'agents': {},
                                     'detail': 'key %s: Failed to import the required Python library (mistralai)' % FP}]
    assert report['mistral']['keys'][FP]['authenticated'] is None
    assert report['api_calls'] == 0


def test_a_missing_model_no_request_goes_to_is_mitigated():
    ft = MODELS['qa_agent'][0]
    hosts = {'genesis-001': host(config_result=config(qa_agent=False))}
    report = run(evidence(hosts, mistral={FP: check(models={ft: gone(ft)})}))
    assert report['verdict'] == 'healthy'
    assert codes(report) == ['model_unavailable_mitigated']
    assert report['supporting'][0]['agents'] == {'genesis-001': ['qa_agent']}


def test_without_the_config_an_agent_served_by_its_baseline_is_mitigated():
    # controller mode: no config read; the health payload says qa_agent's model in use is its baseline
    ft, base = MODELS['qa_agent']
    on_baseline = dict(agent('qa_agent'), model=base)
    hosts = dict((name, dict(host(health(qa_agent=on_baseline)), config=None, logs=None)) for name in HOSTS)
    report = run(evidence(hosts, mistral={FP: check(models={ft: gone(ft)})}))
    assert report['verdict'] == 'healthy'
    assert 'model_unavailable_mitigated' in codes(report)


def test_deprecated_and_archived_models():
    ft, base = MODELS['legal_agent']
    mistral = {FP: check(models={base: model_entry(base, deprecated=True, deprecation='2026-03-01', replacement='mistral-small-2509'),
                                 ft: model_entry(ft, archived=True)})}
    report = run(evidence({'genesis-001': host()}, mistral=mistral))
    assert codes(report) == ['model_archived', 'model_deprecated']
    assert report['supporting'][1]['detail'] == 'mistral: mistral-small-2506 deprecated, removal on 2026-03-01; replacement mistral-small-2509'
    assert report['supporting'][1]['agents'] == {'genesis-001': ['legal_agent', 'analyst_agent']}


def test_a_404_naming_the_baseline_is_no_fine_tuned_failure():
    base = MODELS['qa_agent'][1]
    dead = agent('qa_agent', errors=120, last_error=error(404, 'Model %s not found' % base))
    report = run(evidence({'genesis-001': host(health(qa_agent=dead))}))
    assert 'model_unavailable' not in [item['scenario'] for item in report['scenarios']]
    assert scenario(report, 'unknown')['agents'] == {'genesis-001': ['qa_agent']}
    assert codes(report) == ['fallback_not_viable']


def test_models_from_the_controller_key_when_the_host_key_was_not_checked():
    ft = MODELS['qa_agent'][0]
    hosts = {'genesis-001': host(fingerprint=SPARE_FP)}
    report = run(evidence(hosts, mistral={FP: check(models={ft: gone(ft)})}))
    assert scenario(report, 'model_unavailable')['agents'] == {'genesis-001': ['qa_agent']}
    assert 'credentials' not in [item['scenario'] for item in report['scenarios']]
    assert codes(report) == ['key_mismatch']


# -- commands, sums, bad input ------------------------------------------------------------------------------


def test_command_names_the_playbook_dir_and_a_target_other_than_genesis():
    hosts = dict((name, host()) for name in HOSTS)
    hosts['genesis-001'] = host(unreachable())
    report = run(evidence(hosts, playbook_dir='/srv/model_ops/playbooks', target='staging:&eu'))
    assert scenario(report, 'complete_failure')['command'] == (
        "ansible-playbook /srv/model_ops/playbooks/remediate_complete_failure.yml -e 'target=staging:&eu' --limit genesis-001")
    assert report['target'] == 'staging:&eu'


@pytest.mark.parametrize('entry_dir, playbook', [
    ('/home/sre/.ansible/collections/ansible_collections/genesis/model_ops/playbooks', 'genesis.model_ops.remediate_credentials'),
    ('/runner/requirements_collections/ansible_collections/genesis/model_ops/playbooks/', 'genesis.model_ops.remediate_credentials'),
    ('/srv/clone-of-model_ops', 'remediate_credentials.yml'),
    (None, 'remediate_credentials.yml')])
def test_command_names_the_playbook_as_it_exists_where_the_run_came_from(entry_dir, playbook):
    refused = dict((name, agent(name, errors=120, last_error=error(401, 'Unauthorized'))) for name in AGENTS)
    report = run(evidence({'genesis-002': host(health(**refused))}, entry_dir=entry_dir))
    assert scenario(report, 'credentials')['command'] == 'ansible-playbook %s' % playbook


def test_command_from_a_clone_whose_collection_is_a_link_names_the_file(tmp_path):
    # A clone finds itself as genesis.model_ops through .collections/ansible_collections/genesis/model_ops ->
    # the clone: its playbook_dir looks like an installed collection's, and resolves to the clone.
    clone = tmp_path / 'clone'
    (clone / 'playbooks').mkdir(parents=True)
    link = tmp_path / 'clone' / '.collections' / 'ansible_collections' / 'genesis' / 'model_ops'
    link.parent.mkdir(parents=True)
    link.symlink_to(clone)
    installed = tmp_path / 'installed' / 'ansible_collections' / 'genesis' / 'model_ops' / 'playbooks'
    installed.mkdir(parents=True)
    refused = dict((name, agent(name, errors=120, last_error=error(401, 'Unauthorized'))) for name in AGENTS)
    commands = [scenario(run(evidence({'genesis-002': host(health(**refused))}, entry_dir=str(where))), 'credentials')['command']
                for where in (link / 'playbooks', installed)]
    assert commands == ['ansible-playbook remediate_credentials.yml', 'ansible-playbook genesis.model_ops.remediate_credentials']


def test_command_carries_the_inventories_the_run_used_unless_they_are_the_default():
    refused = dict((name, agent(name, errors=120, last_error=error(401, 'Unauthorized'))) for name in AGENTS)
    hosts = {'genesis-002': host(health(**refused))}
    site = ['/srv/site/inventory/hosts.ini', '/srv/site/inventory/cloud.yml']
    report = run(evidence(hosts, inventory_sources=site, default_inventory=['/etc/ansible/hosts'], limit='genesis-002'))
    assert scenario(report, 'credentials')['command'] == (
        'ansible-playbook remediate_credentials.yml -i /srv/site/inventory/hosts.ini -i /srv/site/inventory/cloud.yml'
        ' --limit genesis-002')
    report = run(evidence(hosts, inventory_sources=site, default_inventory=site))
    assert scenario(report, 'credentials')['command'] == 'ansible-playbook remediate_credentials.yml'
    report = run(evidence(hosts, inventory_sources=["/srv/my site/hosts"], default_inventory=[]))
    assert scenario(report, 'credentials')['command'] == "ansible-playbook remediate_credentials.yml -i '/srv/my site/hosts'"


def test_a_limited_run_names_its_hosts_even_when_all_are_concerned():
    refused = dict((name, agent(name, errors=120, last_error=error(401, 'Unauthorized'))) for name in AGENTS)
    hosts = {'genesis-002': host(health(**refused))}
    report = run(evidence(hosts, limit='genesis-002'))
    assert scenario(report, 'credentials')['command'] == 'ansible-playbook remediate_credentials.yml --limit genesis-002'
    report = run(evidence(hosts))
    assert scenario(report, 'credentials')['command'] == 'ansible-playbook remediate_credentials.yml'


def test_api_calls_and_tokens_over_every_check():
    hosts = {'genesis-001': host(), 'genesis-002': host(fingerprint=SPARE_FP, controller=SPARE_FP)}
    report = run(evidence(hosts, mistral={FP: check(api_calls=9, tokens=14), SPARE_FP: check(SPARE_FP, api_calls=4, tokens=7)}))
    assert (report['api_calls'], report['tokens_spent']) == (13, 21)
    assert list(report['mistral']['keys']) == sorted([FP, SPARE_FP])


def test_no_key_material_even_where_an_input_leaked_it():
    leaky = agent('qa_agent', errors=120, last_error=error(401, 'Unauthorized: Bearer %s api_key=%s' % (KEY, KEY)))
    sample = {'auth': [{'file': 'x.log', 'line': 'ERROR agent=qa_agent status=401 MISTRAL_API_KEY=%s' % KEY}]}
    hosts = {'genesis-001': host(health(qa_agent=leaky), logs(samples=sample, qa_agent={'auth': 3}))}
    report = run(evidence(hosts))  # run() asserts the key is nowhere
    assert scenario(report, 'credentials')['hosts'] == ['genesis-001']


@pytest.mark.parametrize('bad, message', [
    (None, 'evidence must be a dict'),
    ({'hosts': {}}, 'evidence.hosts must be a non-empty dict'),
    ({'hosts': {'genesis-001': 'down'}}, r'evidence.hosts\[genesis-001\] must be a dict'),
    ({'hosts': {'genesis-001': {}}, 'mistral': []}, 'evidence.mistral must be a dict or null'),
    ({'hosts': {'genesis-001': {}}, 'settings': {'error_rate_threshold': 5}}, 'settings.error_rate_threshold must be a number from 0 to 1'),
])
def test_bad_evidence_is_named(bad, message):
    with pytest.raises(ValueError, match=message):
        diagnose(bad)


def test_a_host_without_health_or_logs_is_unknown_not_a_crash():
    report = run(evidence({'genesis-001': {'reachable': True}}, mistral={}))
    item = scenario(report, 'unknown')
    assert details(item) == ['health: no result (status unknown)']


# -- Markdown --------------------------------------------------------------------------------------------------


def test_markdown_has_every_host_scenario_and_command():
    hosts = dict((name, host()) for name in HOSTS)
    hosts['genesis-003'] = host(unreachable())
    hosts['genesis-001'] = host(health(qa_agent=agent('qa_agent', errors=10, last_error=error(429, 'Rate limit exceeded'))))
    report = run(evidence(hosts))
    text = report_markdown(report)
    assert text.startswith('# Model failure diagnosis: complete_failure\n')
    # the commands first, in the order to handle them, then only the hosts that are not ok
    commands = [item['command'] for item in report['scenarios']]
    assert '## Next\n\n```bash\n%s\n```\n' % '\n'.join(commands) in text
    assert text.index('## Next') < text.index('## Hosts not ok') < text.index('## 1. ')
    for name in HOSTS:
        assert ('| %s |' % name in text) is (name in ('genesis-001', 'genesis-003'))
    assert '\n%d other hosts ok.\n' % (len(HOSTS) - 2) in text
    assert '| genesis-001 | degraded | rate_limit | qa_agent degraded (errors 8.3%, fallbacks 0%, last error 429) |' in text
    for item in report['scenarios']:
        assert '```bash\n%s\n```' % item['command'] in text
    assert text.index('## 1. complete_failure') < text.index('## 2. rate_limit')
    assert '- genesis-003 (12:05:00): health: cannot connect to http://127.0.0.4:8080/health: [Errno 111] Connection refused\n' in text
    assert '- genesis-001 qa_agent (12:03:00): last_error 429 Rate limit exceeded at %s\n' % AT in text
    assert '| %s | True | 200 | - | False | - | req-minute 58 of ? left | 9 | - |' % FP in text
    assert 'API calls: 9 (at most 9: one per key and distinct model id), tokens spent: 0.' in text


def test_markdown_of_a_healthy_fleet():
    text = report_markdown(run(evidence(prometheus=None)))
    assert '# Model failure diagnosis: healthy' in text
    assert 'No scenario holds: every host is ok.' in text
    assert '**prometheus_unavailable**' in text


def test_markdown_escapes_table_cells():
    weird = agent('qa_agent', errors=10, last_error=error(None, 'a | b'))
    report = run(evidence({'genesis-001': host(health(qa_agent=weird))}))
    assert 'last error a \\| b' in report_markdown(report)


def test_markdown_refuses_what_is_not_a_report():
    with pytest.raises(ValueError, match='report_markdown takes the report'):
        report_markdown({'verdict': 'fine'})


def test_every_scenario_name_is_in_the_schema():
    assert SCHEMA['$defs']['scenario_name']['enum'] == list(ORDER)
    assert SCHEMA['properties']['verdict']['enum'] == list(ORDER) + ['healthy']


# -- evidence with an age: which may decide (the precedence rule) ----------------------------------------------

STARTED = '2025-10-31T11:00:00Z'  # host()'s service start


def aged(scan, **seen):
    """A log_scan result with by_agent_seen: seen={agent: {category: (first, last)}}."""
    return dict(scan, by_agent_seen=dict((name, dict((category, {'first': first, 'last': last})
                                                     for category, (first, last) in categories.items()))
                                         for name, categories in seen.items()))


def dead(scan):
    """A host whose service was killed: no answer, its pid file naming a dead pid; its log as it was."""
    data = host(unreachable(), scan)
    data['service'] = {'pid_file': '/opt/genesis/run/genesis-orchestrator.pid', 'pid': 4242, 'running': False,
                       'started_at': '2025-10-31T11:50:00Z', 'age_s': 900}
    return data


def earlier(report):
    return [(line['host'], line['agent'], line['detail'], line['why']) for line in report['earlier']]


def test_a_dead_service_is_a_complete_failure_whatever_its_old_logs_say():
    # 401s logged until two minutes ago; the key the host holds authenticates now; then the service was killed
    scan = aged(logs(qa_agent={'errors': 30, 'auth': 30}, legal_agent={'errors': 30, 'auth': 30}),
                qa_agent={'auth': ('2025-10-31T11:55:00Z', '2025-10-31T12:03:00Z')},
                legal_agent={'auth': ('2025-10-31T11:55:00Z', '2025-10-31T12:03:00Z')})
    report = run(evidence({'genesis-001': host(), 'genesis-002': dead(scan)}))
    assert [item['scenario'] for item in report['scenarios']] == ['complete_failure']
    item = scenario(report, 'complete_failure')
    assert item['hosts'] == ['genesis-002'] and item['command'] == 'ansible-playbook remediate_complete_failure.yml --limit genesis-002'
    assert ('service: /opt/genesis/run/genesis-orchestrator.pid names pid 4242, which is not running (started at 2025-10-31T11:50:00Z)'
            in details(item))
    why = 'the service does not answer now: its lines are from before it stopped'
    assert earlier(report) == [('genesis-002', 'qa_agent', 'log: 30 auth (401/403/unauthorized) lines in 15 min', why),
                               ('genesis-002', 'legal_agent', 'log: 30 auth (401/403/unauthorized) lines in 15 min', why)]
    assert (report['earlier'][0]['since'], report['earlier'][0]['at']) == ('2025-10-31T11:55:00Z', '2025-10-31T12:03:00Z')
    text = report_markdown(report)
    assert '## Earlier in the window' in text
    assert '- genesis-002 qa_agent (11:55:00 to 12:03:00): log: 30 auth (401/403/unauthorized) lines in 15 min (%s)' % why in text


def test_a_dead_service_whose_key_the_api_refuses_now_is_both():
    scan = aged(logs(qa_agent={'errors': 30, 'auth': 30}), qa_agent={'auth': ('2025-10-31T11:55:00Z', '2025-10-31T12:03:00Z')})
    report = run(evidence({'genesis-001': dead(scan)}, mistral={FP: check(authenticated=False, status=401, kind='auth')}))
    assert [item['scenario'] for item in report['scenarios']] == ['credentials', 'complete_failure']
    assert details(scenario(report, 'credentials')) == ['mistral: key fingerprint %s rejected (401)' % FP]


def test_log_lines_from_before_the_service_started_decide_nothing():
    # support_agent degraded now, with no last_error to say why; its 401s predate the service's current start
    slow = agent('support_agent', fallbacks=30)
    scan = aged(logs(support_agent={'errors': 20, 'auth': 20}), support_agent={'auth': ('2025-10-31T10:40:00Z', '2025-10-31T10:55:00Z')})
    report = run(evidence({'genesis-001': host(health(support_agent=slow), scan)}))
    assert [item['scenario'] for item in report['scenarios']] == ['unknown']
    assert earlier(report) == [('genesis-001', 'support_agent', 'log: 20 auth (401/403/unauthorized) lines in 15 min',
                                'before the service started at %s' % STARTED)]
    # the same lines after the start decide
    fresh = aged(logs(support_agent={'errors': 20, 'auth': 20}), support_agent={'auth': ('2025-10-31T11:40:00Z', '2025-10-31T11:55:00Z')})
    report = run(evidence({'genesis-001': host(health(support_agent=slow), fresh)}, mistral={FP: check(authenticated=None, status=None)}))
    assert scenario(report, 'credentials')['evidence'][0]['since'] == '2025-10-31T11:40:00Z'


def test_log_lines_older_than_the_agents_last_healthy_report_decide_nothing():
    slow = agent('support_agent', fallbacks=30)
    scan = aged(logs(support_agent={'errors': 20, 'rate_limit': 20}),
                support_agent={'rate_limit': ('2025-10-31T11:40:00Z', '2025-10-31T11:52:00Z')})
    previous = {'generated_at': '2025-10-31T11:55:00Z', 'hosts': {'genesis-001': {'agents': {
        'support_agent': {'status': 'ok', 'last_ok_at': '2025-10-31T11:55:00Z'}}}}}
    report = run(dict(evidence({'genesis-001': host(health(support_agent=slow), scan)}), previous=previous))
    assert [item['scenario'] for item in report['scenarios']] == ['unknown']
    assert earlier(report) == [('genesis-001', 'support_agent', 'log: 20 rate-limit lines in 15 min',
                                'before support_agent was last reported ok at 2025-10-31T11:55:00Z')]
    # carried on for the next run: the agent is not ok now, so its last healthy report stays the earlier one
    agents = report['hosts']['genesis-001']['agents']
    assert agents['support_agent']['last_ok_at'] == '2025-10-31T11:55:00Z' and agents['qa_agent']['last_ok_at'] == '2025-10-31T12:05:00Z'
    # without that earlier report (or with a damaged one) the lines are fresh: they decide
    for unusable in (None, '{not json', ['a', 'list']):
        report = run(dict(evidence({'genesis-001': host(health(support_agent=slow), scan)}), previous=unusable))
        assert scenario(report, 'rate_limit')['agents'] == {'genesis-001': ['support_agent']}
    # an earlier report given as its JSON text, as the playbook reads it
    report = run(dict(evidence({'genesis-001': host(health(support_agent=slow), scan)}), previous=json.dumps(previous)))
    assert [item['scenario'] for item in report['scenarios']] == ['unknown']


def test_a_key_the_api_accepts_now_rules_out_credentials_from_the_logs():
    slow = agent('qa_agent', fallbacks=30)
    scan = aged(logs(qa_agent={'errors': 20, 'auth': 20}), qa_agent={'auth': ('2025-10-31T11:40:00Z', '2025-10-31T12:04:00Z')})
    report = run(evidence({'genesis-001': host(health(qa_agent=slow), scan)}))
    assert 'credentials' not in [item['scenario'] for item in report['scenarios']]
    assert earlier(report) == [('genesis-001', 'qa_agent', 'log: 20 auth (401/403/unauthorized) lines in 15 min',
                                'key fingerprint %s is accepted by the API now' % FP)]
    # a key the controller does not hold (another fingerprint on the host) was not checked: the logs decide
    report = run(evidence({'genesis-001': host(health(qa_agent=slow), scan, fingerprint=SPARE_FP)}))
    assert scenario(report, 'credentials')['agents'] == {'genesis-001': AGENTS}


def test_an_agents_live_401_is_credentials_even_when_the_key_checks_out():
    # the host's own calls are refused now (its service may hold another key than its env file)
    refused = agent('qa_agent', errors=120, last_error=error(401, 'Unauthorized'))
    report = run(evidence({'genesis-001': host(health(qa_agent=refused))}))
    assert report['verdict'] == 'credentials'
    assert scenario(report, 'credentials')['evidence'][0]['at'] == AT


def test_a_failing_agents_lines_of_another_kind_are_context():
    limited = agent('qa_agent', errors=20, last_error=error(429, 'Rate limit exceeded'))
    scan = aged(logs(qa_agent={'errors': 40, 'auth': 20, 'rate_limit': 20}),
                qa_agent={'auth': ('2025-10-31T11:40:00Z', '2025-10-31T11:45:00Z'), 'rate_limit': ('2025-10-31T12:01:00Z', '2025-10-31T12:04:00Z')})
    report = run(evidence({'genesis-001': host(health(qa_agent=limited), scan)}))
    assert [item['scenario'] for item in report['scenarios']] == ['rate_limit']
    assert earlier(report) == [('genesis-001', 'qa_agent', 'log: 20 auth (401/403/unauthorized) lines in 15 min',
                                "qa_agent's last error now is last_error 429 Rate limit exceeded at %s" % AT)]


def test_an_ok_agents_lines_are_context():
    scan = aged(logs(legal_agent={'errors': 2, 'rate_limit': 2}), legal_agent={'rate_limit': ('2025-10-31T12:01:00Z', '2025-10-31T12:02:00Z')})
    report = run(evidence({'genesis-001': host(logs_result=scan)}))
    assert report['verdict'] == 'healthy'
    assert earlier(report) == [('genesis-001', 'legal_agent', 'log: 2 rate-limit lines in 15 min', 'legal_agent is ok now')]


def test_every_evidence_line_has_its_time():
    limited = agent('qa_agent', errors=20, last_error=error(429, 'Rate limit exceeded'))
    scan = aged(logs(qa_agent={'errors': 20, 'rate_limit': 20}), qa_agent={'rate_limit': ('2025-10-31T12:01:00Z', '2025-10-31T12:04:00Z')})
    mistral = check(models={MODELS['qa_agent'][0]: model_entry(MODELS['qa_agent'][0], exists=None, status=429, kind='rate_limited')})
    mistral['checked_at'] = '2025-10-31T12:04:58Z'
    report = run(evidence({'genesis-001': host(health(qa_agent=limited), scan)}, mistral={FP: mistral}))
    times = [(line['source'], line['since'], line['at']) for line in scenario(report, 'rate_limit')['evidence']]
    assert times == [('health', None, AT), ('log', '2025-10-31T12:01:00Z', '2025-10-31T12:04:00Z'),
                     ('mistral', None, '2025-10-31T12:04:58Z')]


# -- precise agents: those with evidence of the scenario on that host -------------------------------------------


def test_a_limit_on_two_models_names_only_their_agents_and_the_key_at_risk():
    # the quota of qa_agent's and support_agent's fine-tuned models is used up: the controller's check of them
    # answered 429; every host falls back on those two agents only
    qa_ft, support_ft = MODELS['qa_agent'][0], MODELS['support_agent'][0]
    headers = {'retry-after': '5', 'x-ratelimit-limit-tokens-minute': '5000000', 'x-ratelimit-remaining-tokens-minute': '0'}
    entries = dict((model_id, dict(model_entry(model_id, exists=None, status=429, kind='rate_limited'), headers=headers))
                   for model_id in (qa_ft, support_ft))
    falling_back = dict((name, agent(name, fallbacks=40, last_error=error(429, 'Rate limit exceeded'))) for name in ('qa_agent', 'support_agent'))
    hosts = dict((name, host(health(**falling_back))) for name in HOSTS)
    report = run(evidence(hosts, mistral={FP: check(models=entries, limited=2)}))
    assert report['verdict'] == 'rate_limit'
    item = scenario(report, 'rate_limit')
    assert item['hosts'] == HOSTS and item['agents'] == dict.fromkeys(HOSTS, ['qa_agent', 'support_agent'])
    assert item['command'] == 'ansible-playbook remediate_rate_limit.yml'
    assert ('mistral: %s answered 429 for key fingerprint %s; Retry-After 5 s; tokens-minute 0 of 5000000 left' % (qa_ft, FP)
            in details(item))
    at_risk = [entry for entry in report['supporting'] if entry['code'] == 'key_rate_limited']
    assert len(at_risk) == 1 and at_risk[0]['hosts'] == HOSTS and at_risk[0]['agents'] == {}
    assert at_risk[0]['detail'] == ('key fingerprint %s rate limited (429 for %s; 429s on the hosts for qa_agent, support_agent): '
                                    'every agent on this key is at risk; quota: req-minute 58 of ? left' % (FP, ', '.join(sorted([qa_ft, support_ft]))))
    assert report['mistral']['models'][qa_ft]['quota'] == {'tokens-minute': {'limit': 5000000, 'remaining': 0}}
    assert report['mistral']['models'][qa_ft]['retry_after'] == 5.0


def test_a_model_at_its_limit_on_the_controllers_key_alone_names_its_agent():
    # no host shows it yet: the controller's own 429 on qa_agent's model is evidence for qa_agent, not for all five
    qa_ft = MODELS['qa_agent'][0]
    report = run(evidence(mistral={FP: check(models={qa_ft: model_entry(qa_ft, exists=None, status=429, kind='rate_limited')})}))
    item = scenario(report, 'rate_limit')
    assert item['agents'] == dict.fromkeys(HOSTS, ['qa_agent'])


def test_the_keys_own_limit_is_the_hosts_evidence_and_not_a_complete_failure():
    # every call of the key answers 429: every agent down, fallback included; that is the key's limit, not Scenario 4
    down = dict((name, agent(name, errors=120, last_error=error(429, 'Rate limit exceeded'))) for name in AGENTS)
    key_limited = check(authenticated=None, status=429, kind='rate_limited')
    key_limited['key']['headers'] = {'retry-after': '5', 'x-ratelimit-remaining-req-minute': '0'}
    for entry in key_limited['models'].values():
        entry.update(checked=False, exists=None, http_status=429, error_kind='rate_limited', message='not checked (API rate limited: HTTP 429)')
    report = run(evidence({'genesis-001': host(health(**down)), 'genesis-002': host()}, mistral={FP: key_limited}))
    assert [item['scenario'] for item in report['scenarios']] == ['rate_limit']
    item = scenario(report, 'rate_limit')
    assert item['hosts'] == ['genesis-001', 'genesis-002'] and item['agents'] == {'genesis-001': AGENTS, 'genesis-002': []}
    assert not [entry for entry in report['supporting'] if entry['code'] == 'model_unavailable']
    assert all(entry['exists'] is None and entry['message'] == 'not checked (API rate limited: HTTP 429)'
               for entry in report['mistral']['models'].values())
