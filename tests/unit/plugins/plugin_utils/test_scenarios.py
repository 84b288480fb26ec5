# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's scenarios are defined once, in plugin_utils/_scenarios.py. What cannot import Python keeps a
copy; each copy must say what the definition says."""

from __future__ import annotations

import os
import re

import yaml

from ansible_collections.genesis.model_ops.plugins.plugin_utils import _verdict_scenarios as _verdict
from ansible_collections.genesis.model_ops.plugins.plugin_utils._scenarios import AUTO_APPROVE, ORDER, PLAYBOOKS, RUNBOOK

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


class Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """YAML as Ansible writes it: a !unsafe text is text."""


Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def load(*path):
    with open(os.path.join(ROOT, *path), encoding='utf-8') as handle:
        return yaml.load(handle, Loader=Loader)  # nosec B506: a safe loader, plus a text tag


def test_the_definition_holds_together():
    assert sorted(RUNBOOK) == sorted(ORDER) == sorted(PLAYBOOKS) and set(AUTO_APPROVE) <= set(RUNBOOK)
    for scenario, playbook in PLAYBOOKS.items():
        assert os.path.isfile(os.path.join(ROOT, 'playbooks', playbook)), playbook
        assert os.path.isfile(os.path.join(ROOT, playbook)), 'no root wrapper for %s' % playbook
        assert os.path.isfile(os.path.join(ROOT, 'roles', 'change_wave', 'tasks', 'change', scenario + '.yml')), scenario


def test_the_verdict_handles_them_in_the_same_order_with_the_same_playbooks():
    assert _verdict.ORDER == ORDER + ('unknown',)
    assert dict((scenario, _verdict.SCENARIOS[scenario][2]) for scenario in ORDER) == PLAYBOOKS


def test_remediate_yml_runs_their_playbooks_in_that_order():
    imported = [play['ansible.builtin.import_playbook'] for play in load('playbooks', 'remediate.yml')
                if play.get('ansible.builtin.import_playbook', 'diagnose.yml') != 'diagnose.yml']
    assert imported == [PLAYBOOKS[scenario] for scenario in ORDER]
    # and each on the hosts the plan put in that scenario's group
    for play, scenario in zip([p for p in load('playbooks', 'remediate.yml') if p.get('ansible.builtin.import_playbook') in imported], ORDER):
        assert "groups['model_ops_plan_%s']" % scenario in play['vars']['model_ops_hosts']


def test_awx_offers_them_by_their_runbook_number():
    survey = dict((q['variable'], q) for q in load('extensions', 'awx', 'surveys', 'remediate.yml')['spec'])
    assert survey['approve']['choices'] == list(RUNBOOK)
    assert load('extensions', 'awx', 'vars.yml')['awx_workflow_approve'] == list(RUNBOOK)
    jobs = load('extensions', 'awx', 'vars.yml')['awx_job_templates']
    assert set(PLAYBOOKS.values()) <= set(job['playbook'] for job in jobs)
    assert load('extensions', 'awx', 'job_templates.yml')[0]['vars']['awx_known_scenarios'] == list(RUNBOOK)


def test_the_rulebook_remediates_those_that_run_unattended_and_hands_the_others_to_a_person():
    rules = load('extensions', 'eda', 'rulebooks', 'genesis-model-ops.yml')[0]['rules']
    unattended, for_a_person = [], []
    for rule in rules:
        named = re.findall(r'"([a-z_]+)"', rule['condition'].split('scenario', 1)[-1]) if 'scenario' in rule['condition'] else []
        playbook = rule['action'].get('run_playbook', {})
        if playbook.get('name') == 'genesis.model_ops.remediate':
            assert playbook['extra_vars']['model_ops_auto_approve'] == named, rule['name']
            unattended += named
        elif playbook.get('name') == 'genesis.model_ops.diagnose':
            for_a_person += named
    assert sorted(unattended) == sorted(AUTO_APPROVE)
    assert sorted(for_a_person) == sorted(set(RUNBOOK) - set(AUTO_APPROVE)) + ['unknown']


def test_the_alerts_label_scenarios_the_collection_knows():
    rules = load('extensions', 'prometheus', 'rules', 'genesis-model-ops.rules.yml')['groups'][0]['rules']
    assert set(rule['labels']['scenario'] for rule in rules) == set(RUNBOOK) | {'unknown'}


def test_the_ci_example_names_them_as_approve_takes_them():
    inputs = load('examples', 'ci', 'github-actions.yml')['on']['workflow_dispatch']['inputs']
    assert '(comma-separated: %s)' % ', '.join(RUNBOOK) in inputs['approve']['description']


def test_the_change_wave_makes_each_of_their_changes():
    spec = load('roles', 'change_wave', 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    assert spec['change_wave_change']['choices'] == list(RUNBOOK) + ['rollback']
