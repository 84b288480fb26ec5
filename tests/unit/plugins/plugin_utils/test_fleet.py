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
                           'chat_models': [], 'hosts': ['h1', 'h2']},
                    FP_B: {'key': KEY_B, 'server_url': 'https://api.mistral.ai', 'models': [], 'chat_models': [], 'hosts': ['h3']}}
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
    # with models_by_key's result, each host's key is not read again: the same fingerprints
    monkeypatch.setenv('MISTRAL_API_KEY', KEY_B)
    keys = _fleet.models_by_key(['h1', 'h2', 'h3'], hostvars)
    monkeypatch.delenv('MISTRAL_API_KEY')
    given = _fleet.fleet_evidence(['h1', 'h2', 'h3', 'h4'], dict(hostvars, h4={}), 'host', None, prometheus, keys=keys)
    assert [given[h]['api_key_fingerprint'] for h in ('h1', 'h2', 'h3', 'h4')] == [FP_A, FP_B, FP_B, None]
    fleet = {'hosts': {'h2': {'status': 'down'}}}
    controller = _fleet.fleet_evidence(['h1', 'h2'], hostvars, 'controller', fleet, {'skipped': True})
    assert (controller['h1']['health'], controller['h2']['health'], controller['h1']['prometheus']) == (None, {'status': 'down'}, None)


def test_the_example_inventory_shows_the_same_defaults():
    path = os.path.join(os.path.dirname(_fleet.DEFAULTS_FILE), '..', '..', '..', 'inventories', 'example', 'group_vars', 'genesis', 'main.yml')
    with open(path, encoding='utf-8') as handle:
        example = yaml.safe_load(handle)
    assert example and all(_fleet.contract_defaults()[name] == value for name, value in example.items()), example


def test_the_contract_is_checked_once_for_the_fleet_naming_each_bad_value_and_its_hosts():
    key = 'k' * 32
    hostvars = dict(('h%d' % i, {'genesis_service_manager': 'bogus', 'mistral_api_key': key, 'ansible_host': '10.0.0.%d' % i})
                    for i in range(5))
    hostvars['h1'] = {'genesis_service_manager': 'systemd', 'model_ops_lock_timeout': 'soon', 'mistral_api_key': 7}
    hostvars['h9'] = {}
    errors = _fleet.contract_errors(sorted(hostvars), hostvars)
    assert errors == [
        'value of genesis_service_manager must be one of: auto, systemd, process, got: bogus (h0, h2, h3 and 1 more)',
        'argument \'model_ops_lock_timeout\' is of type str and we were unable to convert to int: '
        '"\'soon\'" cannot be converted to an int (h1)'], errors
    assert _fleet.contract_errors(['h9'], hostvars) == []


def test_a_bad_key_never_shows_in_the_contract_check(monkeypatch):
    key = 'sk-' + 'x' * 29
    # no key is refused by today's spec (any value is a string); one that named its choices would show the value
    spec = dict(_fleet.contract_spec(), mistral_api_key={'type': 'str', 'no_log': True, 'choices': ['a']})
    monkeypatch.setattr(_fleet, '_SPEC', spec)
    errors = _fleet.contract_errors(['h1'], {'h1': {'mistral_api_key': key}})
    assert errors == ['value of mistral_api_key must be one of: a, got: ******** (h1)'], errors


class Seen(dict):
    """A host's view as hostvars gives it: templates its raw values on access (here: counts the templating)."""

    def __init__(self, raw, counter):
        super().__init__(raw)
        self._vars, self._counter = raw, counter

    def get(self, name, default=None):
        value = self._vars.get(name, default)
        if isinstance(value, str) and '{{' in value:
            self._counter.append(value)
            return value.replace("{{ lookup('env', 'K') }}", 'key-from-env').replace('{{ inventory_hostname }}', 'per-host')
        return value


def test_a_key_that_is_one_template_for_the_fleet_is_templated_once():
    calls = []
    shared, per_host = "{{ lookup('env', 'K') }}", "k-{{ inventory_hostname }}"
    hostvars = dict(('h%d' % i, Seen({'mistral_api_key': shared if i < 5 else per_host}, calls)) for i in range(8))
    keys = _fleet.models_by_key(sorted(hostvars), hostvars)
    assert sorted(g['hosts'] for g in keys.values()) == [['h0', 'h1', 'h2', 'h3', 'h4'], ['h5', 'h6', 'h7']]
    assert calls.count(shared) == 1 and calls.count(per_host) == 3, calls
    assert not _fleet._reads_no_variable('plain') and not _fleet._reads_no_variable('{{ x }}')
    assert _fleet._reads_no_variable("{{ (lookup('ansible.builtin.file', '/k.json') | from_json).fleet }}")
    assert _fleet._reads_no_variable("{{ query('file', '/k') | first }}") and not _fleet._reads_no_variable('{{ broken')


def test_a_slice_hands_on_its_hosts_evidence_without_keys(hostvars, monkeypatch):
    hostvars['h1']['genesis_evidence'].update(invocation={'module_args': {'x': 1}}, changed=False)
    piece = _fleet.slice_evidence(['h1', 'h3'], hostvars)
    assert piece == {'probe': 'host', 'hosts': {
        'h1': dict((k, v) for k, v in hostvars['h1']['genesis_evidence'].items() if k not in ('invocation', 'changed')),
        'h3': {'unreachable': True, 'msg': 'no route'}}}
    assert KEY_A not in repr(piece) and KEY_B not in repr(piece)
    fleet = {'hosts': {'h1': {'status': 'ok', 'agents': {}}, 'h3': {'status': 'down'}}}
    assert _fleet.slice_evidence(['h3'], hostvars, 'controller', fleet) == {'probe': 'controller', 'hosts': {'h3': {'status': 'down'}}}


def test_merged_slices_are_the_evidence_of_an_unsliced_run(hostvars, monkeypatch):
    monkeypatch.setenv('MISTRAL_API_KEY', KEY_A)
    hosts = ['h1', 'h2', 'h3']
    slices = [_fleet.slice_evidence(hosts[k::2], hostvars) for k in range(2)]
    merged = _fleet.merge_slices(slices, hosts, 'host')
    bare = dict((h, {'genesis_evidence': None}) for h in hosts)  # the merging run registered nothing on the hosts
    for h in hosts:
        bare[h].update((k, v) for k, v in hostvars[h].items() if k != 'genesis_evidence')
    assert _fleet.models_by_key(hosts, bare, evidence=merged) == _fleet.models_by_key(hosts, hostvars)
    assert _fleet.fleet_evidence(hosts, bare, evidence=merged) == _fleet.fleet_evidence(hosts, hostvars)


@pytest.mark.parametrize('slices, message', [
    ([], 'no slice evidence was handed on'),
    ([{'probe': 'host', 'hosts': {'h1': {}}}], 'no slice has evidence of h2, h3'),
    ([{'probe': 'host', 'hosts': {'h1': {}, 'h2': {}}}, {'probe': 'host', 'hosts': {'h2': {}, 'h3': {}}}],
     'more than one slice has evidence of h2'),
    ([{'probe': 'host', 'hosts': {'h1': {}, 'h2': {}, 'h3': {}, 'h9': {}}}],
     'the slices have evidence of hosts this run does not target: h9'),
    ([{'probe': 'controller', 'hosts': {'h1': {}, 'h2': {}, 'h3': {}}}],
     'the slices were gathered with model_ops_probe=controller, this run has host'),
])
def test_slices_that_do_not_cover_the_run_exactly_once_are_refused(slices, message):
    with pytest.raises(ValueError, match=message):
        _fleet.merge_slices(slices, ['h1', 'h2', 'h3'], 'host')


def test_slices_an_earlier_merge_read_are_not_read_again():
    again = {'probe': 'host', 'hosts': {'h1': {'health': {'status': 'down'}}}}
    now = {'probe': 'host', 'hosts': {'h1': {'health': {'status': 'ok'}}}}
    assert _fleet.merge_slices([None, now, None], ['h1'], 'host') == {'h1': {'health': {'status': 'ok'}}}
    with pytest.raises(ValueError, match='more than one slice has evidence of h1'):
        _fleet.merge_slices([again, now], ['h1'], 'host')
    with pytest.raises(ValueError, match='no slice evidence was handed on'):
        _fleet.merge_slices([None], ['h1'], 'host')


# What mutation testing of _fleet.py found untested (tests/mutation/run.py plugins/plugin_utils/_fleet.py)

class Host(dict):
    """A host's variables as hostvars gives them: each one read is noted in read; one in unreadable cannot be
    templated outside its play (a template of a role default)."""

    def __init__(self, read, unreadable=(), **values):
        super().__init__(values)
        self.read, self.unreadable = read, unreadable

    def __getitem__(self, name):
        self.read.append(name)
        if name in self.unreadable:
            raise ValueError('a template of a role default, templated outside its play')
        return dict.__getitem__(self, name)


def test_the_role_files_are_read_when_first_needed_then_kept(monkeypatch):
    monkeypatch.setattr(_fleet, '_DEFAULTS', {})  # as in a new Ansible process: nothing read yet
    monkeypatch.setattr(_fleet, '_SPEC', {})
    with open(_fleet.DEFAULTS_FILE, encoding='utf-8') as handle:
        defaults = yaml.safe_load(handle)
    with open(_fleet.SPEC_FILE, encoding='utf-8') as handle:
        spec = yaml.safe_load(handle)['argument_specs']['main']['options']
    assert _fleet.contract_defaults() == defaults and _fleet.contract_spec() == spec
    assert _fleet.contract_defaults() is _fleet._DEFAULTS and _fleet.contract_spec() is _fleet._SPEC  # read once


def test_a_contract_variable_that_takes_any_string_is_not_read(monkeypatch):
    """Reading a host's variable templates it (the key: its lookup, once per host); a string without choices would
    pass anyway, whether its type is written or left to the default."""
    read = []
    monkeypatch.setattr(_fleet, '_SPEC', {'untyped': {}, 'text': {'type': 'str'}, 'count': {'type': 'int'},
                                          'mode': {'choices': ['a', 'b']}})
    hostvars = {'h1': Host(read, untyped='x', text='y', count='2', mode='c')}
    assert _fleet.contract_errors(['h1'], hostvars) == ['value of mode must be one of: a, b, got: c (h1)']
    assert sorted(read) == ['count', 'mode']


def test_a_variable_that_cannot_be_read_leaves_the_hosts_other_variables_checked(monkeypatch):
    monkeypatch.setattr(_fleet, '_SPEC', {'first': {'type': 'int'}, 'second': {'type': 'int'}})
    errors = _fleet.contract_errors(['h1'], {'h1': Host([], unreadable=('first',), first='{{ x }}', second='many')})
    assert len(errors) == 1 and errors[0].startswith("argument 'second' is of type str") and errors[0].endswith('(h1)'), errors


def test_list_values_are_checked_each_for_its_own_hosts(monkeypatch):
    monkeypatch.setattr(_fleet, '_SPEC', {'ports': {'type': 'list', 'elements': 'int'}})
    hostvars = {'h1': {'ports': [8080]}, 'h2': {'ports': ['eighty']}, 'h3': {'ports': [8080]}}
    errors = _fleet.contract_errors(['h1', 'h2', 'h3'], hostvars)
    assert len(errors) == 1 and errors[0].endswith('(h2)'), errors


def test_a_host_without_a_key_does_not_hide_the_hosts_after_it(hostvars, monkeypatch):
    monkeypatch.delenv('MISTRAL_API_KEY', raising=False)
    assert [g['hosts'] for g in _fleet.models_by_key(['h2', 'h1', 'h3'], hostvars).values()] == [['h1'], ['h3']]


def test_a_hosts_evidence_reaches_the_verdict_whole_read_on_the_host_by_default(hostvars, monkeypatch):
    monkeypatch.delenv('MISTRAL_API_KEY', raising=False)
    found = {'health': {'status': 'degraded'}, 'logs': {'rate_limit': 3}, 'config': {'agents': {}},
             'service': {'running': True, 'pid': 42}, 'key': {'present': True}, 'recent_changes': [{'scenario': 'rollback'}]}
    hostvars['h1']['genesis_evidence'] = found
    evidence = _fleet.fleet_evidence(['h1'], hostvars)['h1']
    assert dict((k, evidence[k]) for k in found) == found and evidence['reachable'] is True


def test_a_template_of_statements_only_reads_no_variable():
    assert _fleet._reads_no_variable("{% if true %}k{% endif %}")
    assert not _fleet._reads_no_variable("{% if x %}k{% endif %}")


def test_a_contract_default_that_is_a_template_is_named_with_its_host(hostvars):
    with pytest.raises(ValueError) as raised:
        _fleet.host_var(hostvars, 'h2', 'genesis_config_path')
    assert str(raised.value) == 'genesis_config_path has no plain default to fall back on for h2'


FOUR = {'probe': 'host', 'hosts': dict(('h%d' % i, {}) for i in range(1, 5))}


@pytest.mark.parametrize('slices, hosts, message', [
    ([], ['h1', 'h2', 'h3'],
     'no slice evidence was handed on (model_ops_evidence_<slice> variables, from runs with model_ops_stage=gather); '
     'no slice has evidence of h1, h2, h3'),
    ([{'probe': 'host', 'hosts': {'h1': {}}}, {'probe': 'controller', 'hosts': {'h2': {}, 'h3': {}, 'h8': {}, 'h9': {}}}],
     ['h1', 'h2', 'h3'],
     'the slices were gathered with model_ops_probe=controller, host, this run has host; '
     'the slices have evidence of hosts this run does not target: h8, h9'),
    ([FOUR, FOUR], ['h1', 'h2', 'h3', 'h4', 'h5'],
     'no slice has evidence of h5; more than one slice has evidence of h1, h2, h3 and 1 more'),
])
def test_a_refused_merge_says_every_problem_in_full(slices, hosts, message):
    with pytest.raises(ValueError) as raised:
        _fleet.merge_slices(slices, hosts, 'host')
    assert str(raised.value) == message
