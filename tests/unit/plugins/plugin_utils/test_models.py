# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The models the configs name, the agents remediate_model_unavailable.yml moves, preflight.yml's findings."""

from __future__ import annotations

import datetime

from ansible_collections.genesis.model_ops.plugins.plugin_utils._models import model_unavailable_agents, model_uses, preflight_findings

NOW = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
AGENTS = {'qa_agent': {'finetuned': 'ft:qa', 'baseline': 'base-live'},
          'legal_agent': {'finetuned': 'ft:legal', 'baseline': 'base-gone'},
          'support_agent': {'finetuned': 'ft:qa', 'baseline': 'base-live', 'use_finetuned': False},
          'content_agent': {'baseline': 'base-live'}}


def test_model_uses_of_each_host_or_of_one_config():
    hostvars = {'h1': {'ev': {'config': {'agents': AGENTS}}}, 'h2': {'ev': {'config': None}}, 'h3': {'ev': {'skipped': True}}}
    uses = model_uses(['h1', 'h2', 'h3'], hostvars, 'ev')
    assert [(u['where'], u['agent'], u['role'], u['model']) for u in uses][:3] == [
        ('h1', 'qa_agent', 'finetuned', 'ft:qa'), ('h1', 'qa_agent', 'baseline', 'base-live'), ('h1', 'legal_agent', 'finetuned', 'ft:legal')]
    assert len(uses) == 7 and {u['where'] for u in uses} == {'h1'}
    config = {'models': {'agents': {'qa_agent': {'finetuned': 'ft:x', 'baseline': ''}}}, 'other': 1}
    assert model_uses(['h1'], hostvars, 'ev', config=config, where='production.yaml') == [
        {'where': 'production.yaml', 'agent': 'qa_agent', 'role': 'finetuned', 'model': 'ft:x'}]
    assert model_uses([], config={}, where='empty.yaml') == []


def test_agents_whose_model_is_gone_go_on_a_live_baseline_the_others_to_a_person():
    models = {'ft:qa': {'exists': False}, 'ft:legal': {'exists': False}, 'base-live': {'exists': True}, 'base-gone': {'exists': False}}
    # support_agent no longer routes to its model: nothing to do there
    assert model_unavailable_agents(AGENTS, models) == {'switch': ['qa_agent'], 'stuck': ['legal_agent']}
    models['base-gone'] = {'exists': None}  # no answer about the baseline: not a live one
    assert model_unavailable_agents(AGENTS, models)['stuck'] == ['legal_agent']
    assert model_unavailable_agents(AGENTS, {'ft:qa': {'exists': True}}) == {'switch': [], 'stuck': []}


def use(model, role='finetuned'):
    return {'where': 'h1', 'agent': 'qa_agent', 'role': role, 'model': model}


def test_preflight_findings():
    models = {'gone': {'exists': False, 'message': 'Model not found', 'replacement': 'new-model'},
              'gone-quietly': {'exists': False},
              'archived': {'exists': True, 'archived': True},
              'soon': {'exists': True, 'deprecated': True, 'deprecation': '2026-12-20T00:00:00Z'},
              'later': {'exists': True, 'deprecated': True, 'deprecation': '2027-06-01'},
              'silent': {'exists': None, 'error_kind': 'timeout'},
              'fine': {'exists': True}}
    result = preflight_findings([use(m) for m in models] + [use('never-asked')], models, '30', NOW)
    assert [(f['model'], f['problem'], f['replacement']) for f in result['findings']] == [
        ('gone', 'missing (Model not found)', 'new-model'), ('gone-quietly', 'missing (not found)', None),
        ('archived', 'archived', None), ('soon', 'deprecated, goes away on 2026-12-20T00:00:00Z', None),
        ('silent', 'unknown (timeout)', None)]
    assert result['lines'][0] == 'h1 qa_agent finetuned is gone: missing (Model not found); move to new-model'
    assert result['lines'][1] == 'h1 qa_agent finetuned is gone-quietly: missing (not found)'
    # 0 days: a deprecation never fails the gate
    assert [f['model'] for f in preflight_findings([use('soon')], models, 0, NOW)['findings']] == []
