# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters over plugin_utils: their names, bad input named after the filter, and a run through real Ansible,
where a play loads the genesis role and an inventory overrides some of its defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.genesis.model_ops.plugins.filter import change_wave, fleet, models, remediation

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
FILTERS = {}
for plugin in (change_wave, fleet, models, remediation):
    FILTERS.update(plugin.FilterModule().filters())


def test_the_filters_they_expose():
    assert sorted(FILTERS) == ['agent_statuses', 'change_summary', 'contract_errors', 'escalation', 'fleet_evidence', 'health_targets', 'merge_slices', 'model_unavailable_agents',
                               'model_uses', 'models_by_key', 'preflight_findings', 'remediation_guardrails', 'remediation_markdown',
                               'remediation_outcome', 'remediation_plan', 'slice_evidence']
    for name, function in FILTERS.items():
        assert os.path.isfile(os.path.join(ROOT, 'plugins', 'filter', name + '.yml')), 'no documentation for %s' % name
        assert function.__name__ == name and function.__doc__


@pytest.mark.parametrize('name, args, message', [
    ('health_targets', (['genesis-009'], {}), "genesis.model_ops.health_targets: 'genesis-009'"),
    ('remediation_plan', ({'scenarios': [{'scenario': 'rate_limit'}]}, {'guardrails': {}}), 'genesis.model_ops.remediation_plan: '),
    ('preflight_findings', ([], {}, 'soon', None), "genesis.model_ops.preflight_findings: invalid literal for int"),
])
def test_bad_input_is_a_filter_error_that_names_the_filter(name, args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](*args)


INVENTORY = """
fleet:
  hosts:
    h1: {genesis_health_url: "http://10.0.0.1:9999", mistral_api_key: "%(key)s"}
    h2: {}
    h3: {genesis_app_root: /srv/genesis}
  vars:
    ansible_connection: local
    ansible_python_interpreter: %(python)s
    genesis_service_manager: process
"""
PLAYBOOK = """
- name: The contract as each host's play sees it, and as a run-once task sees the others
  hosts: "{{ model_ops_hosts }}"
  gather_facts: false
  roles:
    - genesis.model_ops.genesis
  tasks:
    - name: Write it down
      ansible.builtin.copy:
        dest: "%(out)s/{{ inventory_hostname }}.json"
        mode: "0600"
        content: >-
          {{ {'config': genesis_config_path, 'manager': genesis_service_manager, 'url': genesis_health_url, 'lock': genesis_lock_file,
              'server': mistral_server_url, 'targets': ansible_play_hosts_all | genesis.model_ops.health_targets(hostvars),
              'keys': (ansible_play_hosts_all | genesis.model_ops.models_by_key(hostvars)).keys() | list} | to_json }}
      delegate_to: localhost
"""


def run(tmp_path, *extra):
    (tmp_path / 'hosts.yml').write_text(INVENTORY % {'python': sys.executable, 'key': 'k' * 32}, encoding='utf-8')
    (tmp_path / 'play.yml').write_text(PLAYBOOK % {'out': tmp_path}, encoding='utf-8')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1', MISTRAL_API_KEY='c' * 32)
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', str(tmp_path / 'hosts.yml'),
                           str(tmp_path / 'play.yml'), *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)


def seen(tmp_path, host):
    with open(tmp_path / (host + '.json'), encoding='utf-8') as handle:
        return json.load(handle)


def test_the_inventory_wins_over_the_genesis_roles_defaults_and_filters_see_them_the_same(tmp_path):
    if not os.path.exists(os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')):
        pytest.skip('ansible-playbook is not installed beside this Python')
    proc = run(tmp_path, '-e', 'target=fleet')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    h1, h2, h3 = (seen(tmp_path, host) for host in ('h1', 'h2', 'h3'))
    assert (h1['url'], h2['url']) == ('http://10.0.0.1:9999', 'http://localhost:8080')  # host variable, else the default
    assert {h1['manager'], h2['manager'], h3['manager']} == {'process'}  # the group's variable, not the default auto
    assert (h2['config'], h3['config']) == ('/opt/genesis/infrastructure/config/production.yaml', '/srv/genesis/infrastructure/config/production.yaml')
    assert h3['lock'] == '/srv/genesis/run/model_ops.lock' and h2['server'] == 'https://api.mistral.ai'
    # a run-once task's view of every host agrees with each host's own
    assert h2['targets'] == [{'name': h, 'url': seen(tmp_path, h)['url']} for h in ('h1', 'h2', 'h3')]
    assert len(h1['keys']) == 2  # h1's own key, and the controller's for h2 and h3
    # -e wins over everything
    proc = run(tmp_path, '-e', 'target=h2', '-e', 'genesis_app_root=/x')
    assert proc.returncode == 0 and seen(tmp_path, 'h2')['lock'] == '/x/run/model_ops.lock', proc.stdout


def test_a_bad_contract_value_is_named_before_any_task(tmp_path):
    proc = run(tmp_path, '-e', 'target=fleet', '-e', 'genesis_service_manager=upstart')
    assert proc.returncode != 0
    assert "genesis_service_manager" in proc.stdout and "upstart" in proc.stdout and "auto, systemd, process" in proc.stdout, proc.stdout
    assert not list(tmp_path.glob('h*.json'))
