# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""log_scan's main(): options in, JSON result out."""

from __future__ import annotations

import json

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import log_scan
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module

KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'
LINES = (
    '2025-10-31T12:03:00.123Z ERROR agent=qa_agent model=ft:open-mistral-7b:587a6b29:20240514:7e773925 status=429 '
    'error="Rate limit exceeded"\n'
    '2025-10-31T12:03:00.456Z INFO agent=qa_agent model=open-mistral-7b fallback=true status=200\n'
    '2025-10-31T12:04:00.000Z ERROR agent=support_agent status=401 error="Unauthorized" '
    'header="Authorization: Bearer %s"\n' % KEY
)


def run(args, capsys):
    return run_module(log_scan.main, args, capsys)[:2]


@pytest.mark.parametrize('check_mode', [False, True])
def test_scan(tmp_path, capsys, check_mode):
    (tmp_path / 'model_calls.log').write_bytes(LINES.encode() + b'garbage \xc3\x28 line\n')
    code, result = run({'path_glob': str(tmp_path / '*.log'), '_ansible_check_mode': check_mode}, capsys)
    assert code == 0 and result['changed'] is False
    assert result['counts'] == {'errors': 2, 'rate_limit': 1, 'auth': 1, 'model_not_found': 0, 'server_error': 0}
    assert result['by_status'] == {'429': 1, '200': 1, '401': 1}
    assert result['by_agent']['support_agent']['auth'] == 1
    assert result['lines_scanned'] == 4 and result['unparsed_lines'] == 1 and result['undecodable_bytes'] == 1
    assert result['window'] == {'lines': 1000, 'minutes': None, 'since': None}
    assert result['last_seen']['auth'] == '2025-10-31T12:04:00.000Z'
    assert KEY not in json.dumps(result)
    assert 'Bearer ********' in result['samples']['auth'][0]['line']
    assert result['findings'] == []


def test_minutes_window_in_the_past_scans_nothing(tmp_path, capsys):
    (tmp_path / 'model_calls.log').write_text(LINES)
    code, result = run({'path_glob': str(tmp_path / '*.log'), 'minutes': 5}, capsys)
    assert code == 0 and result['window']['minutes'] == 5 and result['window']['since'].endswith('Z')
    assert result['lines_scanned'] == 0  # every line is from 2025-10-31, long before now


def test_missing_directory_is_a_finding(tmp_path, capsys):
    code, result = run({'path_glob': str(tmp_path / 'nope' / '*.log')}, capsys)
    assert code == 0 and [item['code'] for item in result['findings']] == ['log_dir_missing']


@pytest.mark.parametrize('args, message', [
    ({'lines': 10, 'minutes': 5}, 'parameters are mutually exclusive: lines|minutes'),
    ({'lines': 0}, 'lines=0 is not allowed: give an integer from 1'),
    ({'lines': '+10'}, "lines='+10' is not allowed: give an integer from 1"),
    ({'minutes': '\u0663'}, "minutes='\u0663' is not allowed: give a number of minutes above 0"),
    ({'max_bytes': -1}, 'max_bytes=-1 is not allowed: give an integer from 1'),
    ({'max_bytes': 2 ** 70}, 'max_bytes=%d is not allowed' % 2 ** 70),
    ({'samples': -1}, 'samples=-1 is not allowed: give an integer from 0 to 1000'),
])
def test_bad_input(capsys, args, message):
    code, result = run(args, capsys)
    assert code == 1 and message in result['msg']
