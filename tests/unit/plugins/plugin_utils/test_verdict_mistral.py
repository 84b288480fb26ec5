# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report's Mistral section in full, from two keys' checks: every field of a key and of a model id as the
check gave it (numbers kept, anything else null, messages masked), one line per model id (the first key that
got an answer about it), and the words of a rate-limited key's detail."""

from __future__ import annotations

import pytest

from ansible_collections.genesis.model_ops.plugins.plugin_utils import _verdict_report as report

SECRET = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'
AT_ZERO = {'x-ratelimit-limit-req-minute': '60', 'x-ratelimit-remaining-req-minute': '0'}
FT = 'ft:open-mistral-7b:587a6b29:20240514:7e773925'

CHECKS = {
    'bbbb2222': {
        'key': {'authenticated': False, 'status': 401, 'error_kind': 'unauthorized',
                'message': 'Unauthorized, key MISTRAL_API_KEY=%s' % SECRET},
        'rate_limit': {'limited': 1, 'retry_after': 'soon', 'waited': 2.5},
        'checked_at': '2026-11-30T10:00:02Z', 'elapsed_s': '1.2', 'api_calls': 1, 'tokens_spent': True,
        'models': {
            FT: {'exists': False, 'http_status': 404},  # aaaa1111 knows it: its line stays
            'open-mistral-7b': {'exists': True, 'type': 'base', 'retired': False, 'http_status': 200, 'checked': True,
                                'probe': 'retrieve'},
        },
    },
    'aaaa1111': {
        'key': {'authenticated': True, 'status': 200, 'error_kind': None, 'headers': AT_ZERO},
        'rate_limit': {'limited': 0, 'retry_after': 5, 'waited': 0, 'headers': {'x-ratelimit-limit-tokens-minute': '500'}},
        'checked_at': '2026-11-30T10:00:00Z', 'elapsed_s': 1.5, 'api_calls': 3, 'tokens_spent': 0,
        'models': {
            FT: {'exists': True, 'type': 'fine-tuned', 'retired': False, 'retired_on': None, 'replacement': None,
                 'deprecated': False, 'deprecation': None, 'archived': False, 'http_status': 200, 'error_kind': None,
                 'checked': True, 'probe': 'retrieve', 'headers': {'retry-after': '7'}},
            'open-mistral-7b': {'exists': None, 'http_status': 429, 'error_kind': 'rate_limited', 'checked': True,
                                'message': 'Rate limit exceeded for %s' % SECRET,
                                'headers': {'x-ratelimit-remaining-req-minute': '0', 'retry-after': 'x'}},
        },
    },
}

MODEL_FIELDS = ('exists', 'type', 'retired', 'retired_on', 'replacement', 'deprecated', 'deprecation', 'archived',
                'http_status', 'error_kind', 'checked', 'probe')


def model(fingerprint, **fields):
    line = dict.fromkeys(MODEL_FIELDS)
    line.update(message=None, quota={}, retry_after=None, fingerprint=fingerprint)
    line.update(fields)
    return line


def test_the_mistral_section_in_full():
    section = report._mistral_report(CHECKS)  # pylint: disable=protected-access
    assert list(section['keys']) == ['aaaa1111', 'bbbb2222']
    assert section['keys']['aaaa1111'] == {
        'authenticated': True, 'status': 200, 'error_kind': None, 'message': None,
        'rate_limited': False,  # limited 0, and the key check did not answer 429
        'retry_after': 5, 'quota': {'req-minute': {'limit': 60, 'remaining': 0}},  # the key check's own figures
        'checked_at': '2026-11-30T10:00:00Z', 'elapsed_s': 1.5, 'api_calls': 3, 'retry_wait_s': 0, 'tokens_spent': 0}
    assert section['keys']['bbbb2222'] == {
        'authenticated': False, 'status': 401, 'error_kind': 'unauthorized', 'message': 'Unauthorized, key MISTRAL_API_KEY=********',
        'rate_limited': True, 'retry_after': None, 'quota': {},
        'checked_at': '2026-11-30T10:00:02Z', 'elapsed_s': None, 'api_calls': 1, 'retry_wait_s': 2.5, 'tokens_spent': None}
    assert section['models'] == {
        FT: model('aaaa1111', exists=True, type='fine-tuned', retired=False, deprecated=False, archived=False, http_status=200,
                  checked=True, probe='retrieve', retry_after=7.0),
        # aaaa1111 got a 429 about it, bbbb2222 an answer: bbbb2222's line
        'open-mistral-7b': model('bbbb2222', exists=True, type='base', retired=False, http_status=200, checked=True, probe='retrieve'),
    }
    assert SECRET not in repr(section)


def test_a_model_line_from_a_429_keeps_its_masked_message_and_quota():
    section = report._mistral_report({'aaaa1111': CHECKS['aaaa1111']})  # pylint: disable=protected-access
    assert section['models']['open-mistral-7b'] == model(
        'aaaa1111', http_status=429, error_kind='rate_limited', checked=True, message='Rate limit exceeded for ********',
        quota={'req-minute': {'limit': None, 'remaining': 0}})
    assert section['keys']['aaaa1111']['quota'] == {'req-minute': {'limit': 60, 'remaining': 0}}
    without_key_figures = dict(CHECKS['aaaa1111'], key={'authenticated': True, 'status': 200})
    section = report._mistral_report({'aaaa1111': without_key_figures})  # pylint: disable=protected-access
    assert section['keys']['aaaa1111']['quota'] == {'tokens-minute': {'limit': 500, 'remaining': None}}  # the last answer's


@pytest.mark.parametrize('check, found, detail', [
    ({'key': {'error_kind': 'rate_limited'}}, {},
     'key fingerprint aaaa1111 rate limited (the key check answered 429): every agent on this key is at risk'),
    ({'key': {'headers': AT_ZERO}}, {'genesis-001': {'agents': ['qa_agent', 'support_agent']}, 'genesis-002': {'agents': ['qa_agent']}},
     'key fingerprint aaaa1111 rate limited (nothing left of req-minute; 429s on the hosts for qa_agent, support_agent): every '
     'agent on this key is at risk; quota: req-minute 0 of 60 left'),
    ({'models': {'b-model': {'error_kind': 'rate_limited'}, 'a-model': {'error_kind': 'rate_limited'},
                 'skipped': {'error_kind': 'rate_limited', 'checked': False}, 'fine': {'error_kind': None}},
      'rate_limit': {'headers': {'x-ratelimit-remaining-tokens-minute': '0'}}},
     {'genesis-003': {'agents': ['other_agent']}},
     'key fingerprint aaaa1111 rate limited (429 for a-model, b-model): every agent on this key is at risk; '
     'quota: tokens-minute 0 of ? left'),
    ({}, {}, 'key fingerprint aaaa1111 rate limited (): every agent on this key is at risk'),
])
def test_the_words_of_a_rate_limited_key(check, found, detail):
    hosts = ['genesis-001', 'genesis-002']
    assert report._key_at_risk('aaaa1111', check, hosts, found) == detail  # pylint: disable=protected-access


# -- the evidence given to the report: its checks' words, the findings of a host passed on whole --------------------

@pytest.mark.parametrize('evidence, message', [
    ([], 'evidence must be a dict with hosts, mistral, prometheus and settings, got list'),
    ({'hosts': {}}, 'evidence.hosts must be a non-empty dict of host results by inventory name, got {}'),
    ({'hosts': {'genesis-001': 'ok'}}, 'evidence.hosts[genesis-001] must be a dict, got str'),
    ({'hosts': {'genesis-001': {}}, 'prometheus': [1]}, 'evidence.prometheus must be a dict or null, got list'),
    ({'hosts': {'genesis-001': {}}, 'settings': {'error_rate_threshold': 1.5}},
     'settings.error_rate_threshold must be a number from 0 to 1, got 1.5'),
    ({'hosts': {'genesis-001': {}}, 'settings': {'fallback_rate_threshold': 'high'}},
     "settings.fallback_rate_threshold must be a number from 0 to 1, got 'high'"),
])
def test_evidence_the_report_cannot_be_made_from_is_named(evidence, message):
    with pytest.raises(ValueError) as err:
        report.diagnose(evidence)
    assert str(err.value) == message


@pytest.mark.parametrize('threshold', [0, 1, '0.5'])
def test_a_threshold_from_0_to_1_is_taken(threshold):
    made = report.diagnose({'hosts': {'genesis-001': {}}, 'settings': {'error_rate_threshold': threshold,
                                                                       'fallback_rate_threshold': threshold}})
    assert made['thresholds'] == {'error_rate': float(threshold), 'fallback_rate': float(threshold)}


def test_a_hosts_findings_from_each_source_in_the_report_whole_and_masked():
    finding = {'code': 'missing_field', 'severity': 'warning', 'agent': 'qa_agent', 'message': 'field error_rate is missing',
               'evidence': {'field': 'error_rate', 'value': None}}
    host = {
        'health': {'url': 'http://localhost:8080', 'status': 'ok', 'healthy': True, 'agents': {}, 'findings': [finding]},
        'logs': {'findings': [{'code': 'log_unreadable', 'severity': 'warning', 'agent': None,
                               'message': 'cannot read qa_agent.log: Permission denied', 'evidence': {}}]},
        'findings': [{'code': 'key_file', 'severity': 'critical', 'message': 'a world-readable file holds MISTRAL_API_KEY=%s' % SECRET,
                      'evidence': {'api_key': SECRET, 'mode': '0644'}}, 'not a finding'],
    }
    made = report.diagnose({'hosts': {'genesis-001': host}})
    assert made['hosts']['genesis-001']['findings'] == [
        dict(finding, source='health'),
        {'source': 'log', 'code': 'log_unreadable', 'severity': 'warning', 'agent': None,
         'message': 'cannot read qa_agent.log: Permission denied', 'evidence': {}},
        {'source': 'host', 'code': 'key_file', 'severity': 'critical', 'agent': None,
         'message': 'a world-readable file holds MISTRAL_API_KEY=********', 'evidence': {'api_key': '********', 'mode': '0644'}},
        {'source': 'host', 'code': None, 'severity': None, 'agent': None, 'message': '', 'evidence': {}},
    ]
    assert SECRET not in repr(made)
