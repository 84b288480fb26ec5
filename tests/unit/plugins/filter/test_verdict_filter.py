# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters genesis.model_ops.verdict and report_markdown: names, errors, and a run through real Ansible."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.genesis.model_ops.plugins.filter.verdict import FilterModule
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_report import diagnose

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
FP = '3f2a9c1d'
FT = 'ft:ministral-8b-2512:587a6b29:20251014:7e773925'


def evidence():
    """Two hosts: one rate limited on qa_agent, one healthy."""
    def agent(errors, last_error=None):
        return {'status': 'degraded' if errors else 'ok', 'model': FT, 'finetuned_model': FT, 'baseline_model': 'ministral-8b-2512',
                'requests': 100, 'errors': errors, 'fallbacks': 0, 'error_rate': errors / 100, 'fallback_rate': 0.0,
                'last_error': last_error}

    def host(errors, last_error=None):
        return {'reachable': True, 'logs': None, 'config': None, 'service': None, 'key': {'present': True, 'fingerprint': FP},
                'recent_changes': [], 'prometheus': None, 'api_key_fingerprint': FP,
                'health': {'status': 'degraded' if errors else 'ok', 'agents': {'qa_agent': agent(errors, last_error)}, 'findings': []}}

    rate_limited = {'at': '2025-10-31T12:03:00Z', 'status': 429, 'message': 'Rate limit exceeded'}
    return {'hosts': {'genesis-002': host(0), 'genesis-001': host(10, rate_limited)},
            'mistral': {FP: {'key': {'authenticated': True, 'status': 200, 'error_kind': None, 'fingerprint': FP},
                             'models': {}, 'rate_limit': {'headers': {}, 'limited': 0, 'retry_after': None},
                             'api_calls': 2, 'tokens_spent': 0}},
            'prometheus': None,
            'settings': {'generated_at': '2025-10-31T12:05:00Z', 'duration_s': 3.0, 'target': 'genesis'}}


FILTERS = FilterModule().filters()


def test_the_filters_it_exposes():
    assert sorted(FILTERS) == ['diagnosis_summary', 'report_html', 'report_markdown', 'verdict']


def test_verdict_is_the_diagnosis():
    report = FILTERS['verdict'](evidence())
    assert report == diagnose(evidence())
    assert report['verdict'] == 'rate_limit'
    assert report['scenarios'][0]['command'] == 'ansible-playbook remediate_rate_limit.yml --limit genesis-001'


def test_report_markdown_renders_the_report():
    text = FILTERS['report_markdown'](FILTERS['verdict'](evidence()))
    assert text.startswith('# Model failure diagnosis: rate_limit')
    assert 'ansible-playbook remediate_rate_limit.yml --limit genesis-001' in text


@pytest.mark.parametrize('name, value, message', [
    ('verdict', {'hosts': []}, 'genesis.model_ops.verdict: evidence.hosts must be a non-empty dict'),
    ('verdict', 'genesis-001', 'genesis.model_ops.verdict: evidence must be a dict'),
    ('report_markdown', {'hosts': {}}, 'genesis.model_ops.report_markdown: report_markdown takes the report'),
])
def test_bad_input_is_a_filter_error(name, value, message):
    with pytest.raises(AnsibleFilterError, match=message):
        FILTERS[name](value)


def test_through_ansible(tmp_path):
    """The filters on Ansible's own (tagged, lazy) data, as a playbook uses them."""
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    if not os.path.exists(ansible):
        pytest.skip('ansible is not installed beside this Python')
    variables = tmp_path / 'evidence.json'
    variables.write_text(json.dumps({'evidence': evidence()}), encoding='utf-8')
    out = tmp_path / 'out.json'
    proc = subprocess.run(
        [ansible, 'localhost', '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable,
         '-e', '@%s' % variables, '-m', 'ansible.builtin.copy',
         '-a', 'dest=%s content="{{ {\'report\': evidence | genesis.model_ops.verdict, \'markdown\': evidence '
               '| genesis.model_ops.verdict | genesis.model_ops.report_markdown} | to_json }}"' % out],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text(encoding='utf-8'))
    assert result['report'] == diagnose(evidence())
    assert '| genesis-001 | degraded | rate_limit |' in result['markdown']
