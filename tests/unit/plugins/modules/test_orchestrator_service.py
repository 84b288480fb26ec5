# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""orchestrator_service's main(): bad input named, a failed start reported, check mode."""

from __future__ import annotations

import time

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import orchestrator_service
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module


def run(args, capsys):
    return run_module(orchestrator_service.main, args, capsys)[:2]


@pytest.mark.parametrize('args,message', [
    ({'stop_timeout': 0}, 'stop_timeout=0 is not allowed: give a number of seconds above 0'),
    ({'start_timeout': -1}, 'start_timeout=-1 is not allowed: give a number of seconds above 0'),
    ({'start_timeout': ' 30 '}, "start_timeout=' 30 ' is not allowed: give a number of seconds above 0"),
    ({'command': []}, 'command=[] is not allowed'),
    ({'state': 'stopped'}, 'value of state must be one of: restarted, started, got: stopped'),
])
def test_bad_input_is_named(tmp_path, capsys, args, message):
    code, result = run(dict({'app_root': str(tmp_path), 'manager': 'process'}, **args), capsys)
    assert code == 1 and message in result['msg']


def test_a_missing_app_root_fails_clearly(tmp_path, capsys):
    code, result = run({'app_root': str(tmp_path / 'nope'), 'manager': 'process'}, capsys)
    assert code == 1 and result['msg'] == 'app_root %s is not a directory' % (tmp_path / 'nope')


def test_check_mode_on_a_stopped_service_would_start_it(tmp_path, capsys):
    (tmp_path / 'genesis.env').write_text('MISTRAL_API_KEY=k\n', encoding='utf-8')
    (tmp_path / 'infrastructure' / 'config').mkdir(parents=True)
    (tmp_path / 'infrastructure' / 'config' / 'production.yaml').write_text('models: {}\n', encoding='utf-8')
    code, result = run({'app_root': str(tmp_path), 'manager': 'process', 'env_file': str(tmp_path / 'genesis.env'),
                        '_ansible_check_mode': True}, capsys)
    assert code == 0 and result['changed'] is True and result['pid'] is None and result['old_pid'] is None
    assert not (tmp_path / 'logs').exists()  # nothing started, nothing written
    # when it ended, by this machine's clock: where a wait for health on the host counts from
    assert abs(result['at'] - time.time()) < 60


def test_check_mode_says_a_start_would_fail(tmp_path, capsys):
    code, result = run({'app_root': str(tmp_path), 'manager': 'process', 'env_file': str(tmp_path / 'nope.env'),
                        '_ansible_check_mode': True}, capsys)
    assert code == 1 and result['msg'].startswith('cannot read the env file %s' % (tmp_path / 'nope.env'))
