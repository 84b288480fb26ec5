# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every number option of every module, given what is not a number of its range: a clear failure naming the
option and the value, and the file it would edit unchanged."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.genesis.model_ops.plugins.modules import (
    api_key, file_restore, finetuned_toggle, host_evidence, log_scan, model_health, orchestrator_service,
    prometheus_query, rollout_set, run_lock)

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'unit', 'plugins', 'module_utils', 'fixtures',
                       'production.yaml')
BAD = [' 5 ', '+5', '٣', '5\n', '', 'nan', 'inf', '-inf', '1e3', 'abc', -1, True, [5], {'a': 5}, '9' * 400]
# (module, option, its other arguments; {config} and {folder} are the test's files)
OPTIONS = [
    (rollout_set, 'percentage', {'path': '{config}'}),
    (rollout_set, 'lock_timeout', {'path': '{config}', 'percentage': 5}),
    (finetuned_toggle, 'lock_timeout', {'path': '{config}', 'enabled': False}),
    (api_key, 'lock_timeout', {'path': '{env}', 'value': 'k' * 32}),
    (file_restore, 'lock_timeout', {'path': '{config}', 'backup': '{config}'}),
    (run_lock, 'lease', {'run_id': 'r', 'path': '{folder}/model_ops.lock'}),
    (run_lock, 'timeout', {'run_id': 'r', 'path': '{folder}/model_ops.lock'}),
    (orchestrator_service, 'stop_timeout', {'app_root': '{folder}', 'manager': 'process'}),
    (orchestrator_service, 'start_timeout', {'app_root': '{folder}', 'manager': 'process'}),
    (model_health, 'timeout', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'wait_timeout', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'wait_interval', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'concurrency', {'url': 'http://127.0.0.1:9'}),
    (model_health, 'error_rate_threshold', {'url': 'http://127.0.0.1:9'}),
    (log_scan, 'lines', {'path_glob': '{folder}/*.log'}),
    (log_scan, 'max_bytes', {'path_glob': '{folder}/*.log'}),
    (host_evidence, 'recent_s', {'app_root': '{folder}'}),
    (prometheus_query, 'timeout', {'url': 'http://127.0.0.1:9', 'query': 'up'}),
]
CASES = [(module, option, args, value) for module, option, args in OPTIONS for value in BAD]


def fill(value, files):
    if isinstance(value, str):
        return value.format(**files)
    if isinstance(value, list):
        return [fill(item, files) for item in value]
    return value


@pytest.fixture
def files(tmp_path):
    shutil.copy(FIXTURE, tmp_path / 'production.yaml')
    (tmp_path / 'genesis.env').write_text('MISTRAL_API_KEY=old\n', encoding='utf-8')
    return {'config': str(tmp_path / 'production.yaml'), 'env': str(tmp_path / 'genesis.env'), 'folder': str(tmp_path)}


def snapshot(folder):
    return {name: open(os.path.join(folder, name), 'rb').read() for name in sorted(os.listdir(folder))}


def test_every_bad_number_is_named_and_changes_nothing(files, capsys, tally):
    assert len(CASES) >= 150
    unclear, changed, accepted = [], 0, []
    for module, option, args, value in CASES:
        before = snapshot(files['folder'])
        with patch_module_args(dict({key: fill(item, files) for key, item in args.items()}, **{option: value})):
            with pytest.raises(SystemExit) as exit_info:
                module.main()
        result = json.loads(capsys.readouterr().out)
        name = '%s %s=%r' % (module.__name__.rsplit('.', 1)[1], option, value)
        if exit_info.value.code != 1:
            accepted.append(name)
        elif not result['msg'].startswith('%s=' % option) or not any(shown[:20] in result['msg'] for shown in (str(value), repr(value))):
            unclear.append('%s: %s' % (name, result['msg'][:200]))
        changed += snapshot(files['folder']) != before
    tally.record('bad number inputs (every number option of every module)', len(CASES),
                 len(unclear) + changed + len(accepted), modules=len({case[0] for case in CASES}),
                 accepted=len(accepted), unclear_message=len(unclear), file_changed=changed)
    assert (accepted, unclear, changed) == ([], [], 0), '\n'.join(accepted + unclear)
