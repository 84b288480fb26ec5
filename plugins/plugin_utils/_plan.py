# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The remediations' decisions: remediate.yml's guardrails read from the run's variables, its plan (which
scenario of a diagnosis runs, and why the others do not) and its outcome; and, after a complete failure's
fix, what is left on a host and whom to call (the runbook's escalation tiers). Pure: no I/O, no clock."""

from __future__ import annotations

import re

from ansible_collections.genesis.model_ops.plugins.plugin_utils._scenarios import AUTO_APPROVE, PLAYBOOKS, RUNBOOK

DEFAULT_MAX_HOSTS = 10
_TRUE, _FALSE = ('true', 'yes'), ('false', 'no')


def scenario_names(value):
    """A list of scenario names given as a list, or as one text with names between commas or white space."""
    if not value:
        return []
    if isinstance(value, str):
        value = re.findall(r'[^,\s]+', value)
    return [str(item).strip() for item in value if str(item).strip()]


def guardrails(approve=None, auto_approve=None, max_hosts=None, dry_run=None):
    """The run's guardrails from its variables (None where unset): {'guardrails': for the run report,
    'approved': the scenarios a person approved, 'error': what is wrong with them, '' when nothing}."""
    approved = scenario_names(approve)
    auto = list(AUTO_APPROVE) if auto_approve is None else scenario_names(auto_approve)
    max_hosts = DEFAULT_MAX_HOSTS if max_hosts is None else max_hosts
    dry_run = False if dry_run is None else dry_run
    hosts_ok = re.match(r'^[0-9]+$', str(max_hosts)) is not None and int(max_hosts) >= 1
    dry = str(dry_run).lower()
    error = ''
    if set(approved + auto) - set(RUNBOOK) or not hosts_ok or dry not in _TRUE + _FALSE:
        error = ('approve=%s, model_ops_auto_approve=%s (allowed: %s), max_hosts=%s (an integer from 1), dry_run=%s '
                 '(true or false): nothing was done' % (','.join(approved), ','.join(auto), ', '.join(RUNBOOK), max_hosts, dry_run))
    return {'guardrails': {'approve': approve or '', 'auto_approve': auto, 'max_hosts': int(max_hosts) if hosts_ok else None,
                           'dry_run': dry in _TRUE},
            'approved': approved, 'error': error}


def plan(diagnosis, rails):
    """Per scenario of the diagnosis, in its order: whether it runs here ('run'), or why not ('needs_person':
    no playbook fixes it, 'needs_approval', 'over_host_cap': it would take the run over max_hosts, all its
    hosts or none). {'steps': [...], 'lines': the same in words}."""
    settings = rails['guardrails']
    taken = set()
    steps = []
    for found in diagnosis.get('scenarios') or []:
        scenario, hosts = found['scenario'], list(found['hosts'])
        more = set(hosts) - taken
        if scenario not in PLAYBOOKS:
            step = {'decision': 'needs_person', 'reason': 'no playbook fixes it: ' + found['command']}
        elif scenario not in settings['auto_approve'] and scenario not in rails['approved']:
            step = {'decision': 'needs_approval',
                    'reason': 'runs only with -e approve=%s, or by a person: %s' % (scenario, found['command'])}
        elif len(taken) + len(more) > settings['max_hosts']:
            step = {'decision': 'over_host_cap',
                    'reason': '%d more hosts would take the run over max_hosts=%d' % (len(more), settings['max_hosts'])}
        else:
            step = {'decision': 'run', 'reason': ''}
            taken |= more
        steps.append(dict(step, scenario=scenario, hosts=hosts, playbook=PLAYBOOKS.get(scenario)))
    lines = ['%s on %s: %s%s' % (s['scenario'], ','.join(s['hosts']), s['decision'], ' (%s)' % s['reason'] if s['reason'] else '')
             for s in steps]
    return {'steps': steps, 'lines': lines}


def outcome(before, after, steps, rails, rediagnosed):
    """The run's outcome and what the run report says of it. after is the diagnosis that stands at the end:
    the second one when the fleet was diagnosed again (rediagnosed), else the first."""
    held = [step for step in steps if step['decision'] != 'run']
    if before['verdict'] == 'healthy':
        result = 'healthy'
    elif held:
        result = 'needs_approval'
    elif rails['guardrails']['dry_run']:
        result = 'dry_run'
    elif after['verdict'] == 'healthy':
        result = 'remediated'
    else:
        result = 'failed'
    return {'outcome': result,
            'outcome_detail': 'Verdict before: %s; after: %s.' % (
                before['verdict'], after['verdict'] if rediagnosed else 'not diagnosed again (nothing changed)'),
            'verdict_before': before['verdict'], 'verdict_after': after['verdict'],
            'hosts_before': _statuses(before), 'hosts_after': _statuses(after)}


def _statuses(diagnosis):
    return dict((name, host['status']) for name, host in diagnosis['hosts'].items())


TIER_1 = 'Escalate to tier 1, the on-call engineer: system logs and metrics.'
TIER_2 = 'Escalate to tier 2, the DevOps lead: infrastructure and API status.'


def escalation(status, api=None):
    """What is left on a host still not healthy after remediate_complete_failure.yml, and whom to call: its
    service (no health answer), else the network to the Mistral API when the API answers the controller
    (api: genesis.model_ops.mistral_check's result there), else the API itself."""
    if status in ('unreachable', 'unknown'):
        return 'Left: the service (its /health does not answer). ' + TIER_1
    key = (api or {}).get('key') or {}
    if key.get('authenticated'):
        return 'Left: the network from the host to the Mistral API (the API answers the controller). ' + TIER_2
    return 'Left: the Mistral API (%s from the controller too). %s' % (key.get('error_kind') or 'no answer', TIER_2)
