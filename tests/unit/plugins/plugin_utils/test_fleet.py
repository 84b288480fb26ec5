# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run-once task reads of every host: contract variables with the genesis role's defaults, health targets,
the model ids per API key, the verdict's evidence."""

from __future__ import annotations

import hashlib
import os

import pytest
import yaml

from ansible_collections.genesis.model_ops.plugins.plugin_utils import _fleet

KEY_A, KEY_B = 'a' * 32, 'b' * 32
FP_A, FP_B = (hashlib.sha256(k.encode()).hexdigest()[:8] for k in (KEY_A, KEY_B))


def agents(*pairs):
    return dict(('agent%d' % i, {'finetuned': ft, 'baseline': base}) for i, (ft, base) in enumerate(pairs))


@pytest.fixture
def hostvars():
    return {
        'h1': {'genesis_health_url': 'http://10.0.0.1:8080', 'mistral_api_key': KEY_A, 'mistral_server_url': 'http://sim:8600',
               'genesis_evidence': {'config': {'agents': agents(('ft:1', 'base'), ('ft:2', 'base'))}, 'health': {'status': 'ok'},
                                    'recent_changes': None, 'key': {'present': True}}},
        'h2': {'genesis_evidence': {'config': {'agents': agents(('ft:3', 'base2'), (None, 'base'))}}},
        'h3': {'mistral_api_key': KEY_B, 'genesis_evidence': {'unreachable': True, 'msg': 'no route'}},
    }


def test_the_defaults_are_the_genesis_roles(hostvars):
    assert _fleet.contract_defaults()['genesis_health_url'] == 'http://localhost:8080'
    assert _fleet.host_var(hostvars, 'h1', 'genesis_health_url') == 'http://10.0.0.1:8080'
    assert _fleet.host_var(hostvars, 'h2', 'genesis_health_url') == 'http://localhost:8080'
    assert _fleet.host_var(hostvars, 'h2', 'mistral_server_url') == 'https://api.mistral.ai'
    with pytest.raises(ValueError, match='genesis_config_path has no plain default to fall back on for h2'):
        _fleet.host_var(hostvars, 'h2', 'genesis_config_path')


def test_health_targets(hostvars):
    assert _fleet.health_targets(['h2', 'h1'], hostvars) == [{'name': 'h2', 'url': 'http://localhost:8080'},
                                                             {'name': 'h1', 'url': 'http://10.0.0.1:8080'}]
    hostvars['h1']['stuck'] = ['qa_agent']
    hostvars['h2']['stuck'] = []
    assert [t['name'] for t in _fleet.health_targets(['h1', 'h2', 'h3'], hostvars, skip='stuck')] == ['h2', 'h3']


def test_a_hosts_key_is_its_own_else_the_controllers(hostvars, monkeypatch):
    monkeypatch.setenv('MISTRAL_API_KEY', KEY_B)
    assert [_fleet.api_key(hostvars, h) for h in ('h1', 'h2', 'h3')] == [KEY_A, KEY_B, KEY_B]
    monkeypatch.delenv('MISTRAL_API_KEY')
    hostvars['h1']['mistral_api_key'] = ''
    assert _fleet.api_key(hostvars, 'h1') is None and _fleet.fingerprint(None) is None


def test_models_by_key_asks_once_per_key_for_every_id_of_its_hosts(hostvars, monkeypatch):
    monkeypatch.setenv('MISTRAL_API_KEY', KEY_A)  # h2 has none of its own: the controller's, the same as h1's
    keys = _fleet.models_by_key(['h1', 'h2', 'h3'], hostvars)
    assert keys == {FP_A: {'key': KEY_A, 'server_url': 'http://sim:8600', 'models': ['ft:1', 'ft:2', 'base', 'ft:3', 'base2'],
                           'chat_models': []},
                    FP_B: {'key': KEY_B, 'server_url': 'https://api.mistral.ai', 'models': [], 'chat_models': []}}
    monkeypatch.delenv('MISTRAL_API_KEY')
    assert list(_fleet.models_by_key(['h2'], hostvars)) == []  # no key, nothing to ask


def test_the_live_check_chats_once_with_each_distinct_baseline_of_a_key(hostvars, monkeypatch):
    monkeypatch.setenv('MISTRAL_API_KEY', KEY_A)
    keys = _fleet.models_by_key(['h1', 'h2', 'h3'], hostvars, live_check=True)
    assert (keys[FP_A]['chat_models'], keys[FP_B]['chat_models']) == (['base', 'base2'], [])
    fleet = {'hosts': {'h1': {'agents': {'qa': {'finetuned_model': 'ft:9', 'baseline_model': 'b9'}}}}}
    assert _fleet.models_by_key(['h1'], hostvars, 'controller', fleet, live_check=True)[FP_A]['chat_models'] == ['b9']


def test_models_by_key_from_the_controllers_fleet_probe(hostvars):
    fleet = {'hosts': {'h1': {'agents': {'qa': {'finetuned_model': 'ft:9', 'baseline_model': 'b9'}}}}}
    assert _fleet.models_by_key(['h1'], hostvars, 'controller', fleet)[FP_A]['models'] == ['ft:9', 'b9']


def test_fleet_evidence(hostvars, monkeypatch):
    monkeypatch.delenv('MISTRAL_API_KEY', raising=False)
    chart = [['2025-10-31T12:03:00.000Z', 12.0, 11.0]]
    prometheus = {'by_label': {'h1': {'qa': 0.2}}, 'chart': {'h1': {'qa': chart}}}
    evidence = _fleet.fleet_evidence(['h1', 'h2', 'h3'], hostvars, 'host', None, prometheus)
    assert evidence['h1'] == {'reachable': True, 'health': {'status': 'ok'}, 'logs': None,
                              'config': hostvars['h1']['genesis_evidence']['config'], 'service': None, 'key': {'present': True},
                              'recent_changes': [], 'prometheus': {'qa': 0.2}, 'prometheus_chart': {'qa': chart},
                              'api_key_fingerprint': FP_A}
    assert evidence['h2']['prometheus_chart'] is None
    assert (evidence['h2']['api_key_fingerprint'], evidence['h3']['reachable']) == (None, False)
    fleet = {'hosts': {'h2': {'status': 'down'}}}
    controller = _fleet.fleet_evidence(['h1', 'h2'], hostvars, 'controller', fleet, {'skipped': True})
    assert (controller['h1']['health'], controller['h2']['health'], controller['h1']['prometheus']) == (None, {'status': 'down'}, None)


def test_the_example_inventory_shows_the_same_defaults():
    path = os.path.join(os.path.dirname(_fleet.DEFAULTS_FILE), '..', '..', '..', 'inventories', 'example', 'group_vars', 'genesis', 'main.yml')
    with open(path, encoding='utf-8') as handle:
        example = yaml.safe_load(handle)
    assert example and all(_fleet.contract_defaults()[name] == value for name, value in example.items()), example
