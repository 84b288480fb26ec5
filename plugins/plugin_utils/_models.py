# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The models a fleet's configs name, and what the Mistral API's answers (genesis.model_ops.mistral_check's
``models``) mean for them: which agents remediate_model_unavailable.yml puts on their baseline, and what
preflight.yml finds wrong before a deployment."""

from __future__ import annotations

import datetime

from ansible_collections.genesis.model_ops.plugins.plugin_utils._fleet import configured_agents

ROLES = ('finetuned', 'baseline')


def model_uses(hosts, hostvars=None, evidence=None, config=None, where=None):
    """Each (where, agent, role, model) the configs name, a model's fine-tuned id before its baseline: the config
    of each host (host_evidence results registered as evidence), or, given config (a production.yaml's data),
    that config alone, named where."""
    if config is not None:
        sources = {where: dict(dict(config.get('models') or {}).get('agents') or {})}
    else:
        sources = dict((host, configured_agents(hostvars, host, evidence)) for host in hosts)
    return [{'where': source, 'agent': name, 'role': role, 'model': agent[role]}
            for source, agents in sources.items() for name, agent in agents.items() for role in ROLES if agent.get(role)]


def model_unavailable_agents(agents, models):
    """A host's agents (its config's) whose fine-tuned model the API says is gone, and that still route to it:
    'switch' those whose baseline is alive (they go on their baseline), 'stuck' those whose baseline is
    gone too (a person must regenerate the model or configure a live baseline)."""
    gone = [name for name, agent in agents.items()
            if agent.get('finetuned') and agent.get('use_finetuned') not in (False,)
            and (models.get(agent['finetuned']) or {}).get('exists') is False]
    stuck = [name for name in gone if not (models.get(agents[name].get('baseline')) or {}).get('exists')]
    return {'switch': [name for name in gone if name not in stuck], 'stuck': stuck}


def preflight_findings(uses, models, days, now):
    """What must stop a deployment, per use of a model: missing, archived, deprecated within days of now (a
    datetime; days 0: never), or not known (no answer). {'findings': [...], 'lines': the same in words}."""
    days = int(days)
    findings = []
    for use in uses:
        answer = models.get(use['model']) or {}
        problem = _problem(answer, days, now)
        if problem:
            findings.append(dict(use, problem=problem, replacement=answer.get('replacement')))
    lines = ['%s %s %s is %s: %s%s' % (f['where'], f['agent'], f['role'], f['model'], f['problem'],
                                       '; move to %s' % f['replacement'] if f['replacement'] else '') for f in findings]
    return {'findings': findings, 'lines': lines}


def _problem(answer, days, now):
    if answer.get('exists') is False:
        return 'missing (%s)' % (answer.get('message') or answer.get('error_kind') or 'not found')
    if answer.get('archived'):
        return 'archived'
    if answer.get('deprecated') and answer.get('deprecation') and days > 0:
        left = datetime.datetime.strptime(answer['deprecation'][:10], '%Y-%m-%d') - now.replace(tzinfo=None)
        if left.days <= days:
            return 'deprecated, goes away on %s' % answer['deprecation']
    if 'exists' in answer and answer['exists'] is None:
        return 'unknown (%s)' % (answer.get('message') or answer.get('error_kind') or 'no answer')
    return ''
