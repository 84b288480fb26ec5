# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediate.yml's decisions: guardrails, plan, outcome; and the escalation after a complete failure."""

from __future__ import annotations

import pytest

from ansible_collections.genesis.model_ops.plugins.plugin_utils._plan import escalation, guardrails, outcome, plan, scenario_names

ALLOWED = 'allowed: credentials, rate_limit, model_unavailable, complete_failure'


def found(scenario, *hosts):
    return {'scenario': scenario, 'hosts': list(hosts), 'command': 'ansible-playbook remediate_%s.yml --limit %s' % (scenario, ','.join(hosts))}


@pytest.mark.parametrize('value, names', [
    (None, []), ('', []), ([], []),
    ('complete_failure', ['complete_failure']),
    ('credentials, rate_limit\nmodel_unavailable', ['credentials', 'rate_limit', 'model_unavailable']),
    ([' credentials ', '', 'rate_limit'], ['credentials', 'rate_limit']),
])
def test_scenario_names_as_a_list_or_a_text(value, names):
    assert scenario_names(value) == names


def test_the_defaults():
    rails = guardrails()
    assert rails == {'guardrails': {'approve': '', 'auto_approve': ['rate_limit', 'model_unavailable'], 'max_hosts': 10, 'dry_run': False},
                     'approved': [], 'error': ''}
    assert guardrails('credentials', ['rate_limit'], '20', 'yes')['guardrails'] == {
        'approve': 'credentials', 'auto_approve': ['rate_limit'], 'max_hosts': 20, 'dry_run': True}


@pytest.mark.parametrize('args, said', [
    (('everything', None, 0, None), 'approve=everything, model_ops_auto_approve=rate_limit,model_unavailable (%s), '
                                    'max_hosts=0 (an integer from 1), dry_run=False (true or false): nothing was done' % ALLOWED),
    ((None, ['rate_limit', 'all'], None, None), 'model_ops_auto_approve=rate_limit,all (%s)' % ALLOWED),
    ((None, None, '2.5', None), 'max_hosts=2.5 (an integer from 1)'),
    ((None, None, None, 'maybe'), 'dry_run=maybe (true or false)'),
])
def test_bad_guardrails_are_named_with_what_is_allowed(args, said):
    assert said in guardrails(*args)['error']


def test_the_plan_runs_what_is_allowed_within_the_host_cap_in_the_diagnosis_order():
    diagnosis = {'scenarios': [found('credentials', 'h1'), found('complete_failure', 'h2', 'h3'), found('model_unavailable', 'h1', 'h4'),
                               found('rate_limit', 'h5', 'h6'), found('unknown', 'h7')]}
    result = plan(diagnosis, guardrails('credentials', None, 3))
    assert [(s['scenario'], s['decision'], s['playbook']) for s in result['steps']] == [
        ('credentials', 'run', 'remediate_credentials.yml'),
        ('complete_failure', 'needs_approval', 'remediate_complete_failure.yml'),
        ('model_unavailable', 'run', 'remediate_model_unavailable.yml'),  # h1 is taken already: one more host
        ('rate_limit', 'over_host_cap', 'remediate_rate_limit.yml'),
        ('unknown', 'needs_person', None)]
    assert result['lines'] == [
        'credentials on h1: run',
        'complete_failure on h2,h3: needs_approval (runs only with -e approve=complete_failure, or by a person: '
        'ansible-playbook remediate_complete_failure.yml --limit h2,h3)',
        'model_unavailable on h1,h4: run',
        'rate_limit on h5,h6: over_host_cap (2 more hosts would take the run over max_hosts=3)',
        'unknown on h7: needs_person (no playbook fixes it: ansible-playbook remediate_unknown.yml --limit h7)']
    assert plan({'scenarios': []}, guardrails()) == {'steps': [], 'lines': []}


def diagnosis(verdict, **statuses):
    return {'verdict': verdict, 'hosts': dict((name, {'status': status}) for name, status in statuses.items())}


@pytest.mark.parametrize('before, after, decisions, dry_run, rediagnosed, expected', [
    ('healthy', 'healthy', [], None, False, 'healthy'),
    ('rate_limit', 'rate_limit', ['run', 'needs_approval'], None, True, 'needs_approval'),
    ('rate_limit', 'rate_limit', ['run'], 'true', False, 'dry_run'),
    ('rate_limit', 'healthy', ['run'], None, True, 'remediated'),
    ('rate_limit', 'rate_limit', ['run'], None, True, 'failed'),
])
def test_the_outcome(before, after, decisions, dry_run, rediagnosed, expected):
    steps = [{'decision': decision} for decision in decisions]
    result = outcome(diagnosis(before, h1='degraded'), diagnosis(after, h1='ok'), steps, guardrails(dry_run=dry_run), rediagnosed)
    assert result['outcome'] == expected
    assert (result['hosts_before'], result['hosts_after']) == ({'h1': 'degraded'}, {'h1': 'ok'})
    assert result['outcome_detail'] == 'Verdict before: %s; after: %s.' % (before, after if rediagnosed else 'not diagnosed again (nothing changed)')


@pytest.mark.parametrize('status, api, said', [
    ('unreachable', None, 'Left: the service (its /health does not answer). Escalate to tier 1, the on-call engineer'),
    ('unknown', {'skipped': True}, 'Left: the service'),
    ('down', {'key': {'authenticated': True}}, 'Left: the network from the host to the Mistral API (the API answers the controller). '
                                               'Escalate to tier 2, the DevOps lead: infrastructure and API status.'),
    ('down', {'key': {'authenticated': False, 'error_kind': 'unreachable'}}, 'Left: the Mistral API (unreachable from the controller too). '
                                                                             'Escalate to tier 2'),
    ('degraded', {'skipped': True}, 'Left: the Mistral API (no answer from the controller too).'),
])
def test_what_is_left_after_a_complete_failure_and_whom_to_call(status, api, said):
    assert escalation(status, api).startswith(said)
