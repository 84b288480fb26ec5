# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""run_lock: one run at a time per host, a clear message for the second, leases that run out."""

from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import run_lock
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module, run_module_as


def run(args, capsys):
    return run_module(run_lock.main, args, capsys)[:2]


def test_take_renew_refuse_release(tmp_path, capsys):
    path = str(tmp_path / 'run' / 'model_ops.lock')
    code, first = run({'run_id': 'A', 'path': path, 'owner': 'rollback.yml by oncall'}, capsys)
    assert code == 0 and first['changed'] and first['holder']['run_id'] == 'A'
    code, again = run({'run_id': 'A', 'path': path}, capsys)
    assert code == 0 and not again['changed']  # renewed by its own run
    start = time.monotonic()
    code, other = run({'run_id': 'B', 'path': path, 'timeout': 1}, capsys)
    assert code == 1 and time.monotonic() - start >= 1
    assert 'is held by another run: run A (rollback.yml by oncall), since ' in other['msg'] and 'waited 1s' in other['msg']
    code, wrong = run({'run_id': 'B', 'path': path, 'state': 'released'}, capsys)
    assert code == 0 and not wrong['changed'] and (tmp_path / 'run' / 'model_ops.lock').exists()
    code, released = run({'run_id': 'A', 'path': path, 'state': 'released'}, capsys)
    assert code == 0 and released['changed'] and not (tmp_path / 'run' / 'model_ops.lock').exists()
    code, taken = run({'run_id': 'B', 'path': path}, capsys)
    assert code == 0 and taken['holder']['run_id'] == 'B'


def test_an_expired_lease_is_taken_over(tmp_path, capsys):
    path = tmp_path / 'model_ops.lock'
    path.write_text(json.dumps({'run_id': 'dead', 'owner': 'x', 'at': 1, 'expires': time.time() - 1}), encoding='utf-8')
    code, result = run({'run_id': 'B', 'path': str(path), 'timeout': 0}, capsys)
    assert code == 0 and result['holder']['run_id'] == 'B'


def test_check_mode_takes_nothing(tmp_path, capsys):
    path = tmp_path / 'model_ops.lock'
    code, result = run({'run_id': 'A', 'path': str(path), '_ansible_check_mode': True}, capsys)
    assert code == 0 and result['changed'] and not path.exists()


@pytest.mark.parametrize('args,message', [
    ({'run_id': ' '}, 'run_id must not be empty'),
    ({'run_id': 'A', 'lease': 0}, 'lease=0 is not allowed: give a number of seconds above 0'),
    ({'run_id': 'A', 'lease': 'NaN'}, "lease='NaN' is not allowed: give a number of seconds above 0"),
    ({'run_id': 'A', 'lease': float('nan')}, 'lease=nan is not allowed'),
    ({'run_id': 'A', 'lease': float('inf')}, 'lease=inf is not allowed'),
    ({'run_id': 'A', 'lease': -30}, 'lease=-30 is not allowed'),
    ({'run_id': 'A', 'lease': '1e9999'}, "lease='1e9999' is not allowed"),
    ({'run_id': 'A', 'timeout': ' 5'}, "timeout=' 5' is not allowed: give a number of seconds from 0"),
])
def test_bad_input(tmp_path, capsys, args, message):
    code, result = run(dict(args, path=str(tmp_path / 'l')), capsys)
    assert code == 1 and message in result['msg']


def test_a_lease_taken_over_writes_through_no_planted_symlink(tmp_path, capsys):
    # the old lock code wrote <lock>.<pid>.tmp with a plain open(): a link planted there was followed
    path = tmp_path / 'model_ops.lock'
    path.write_text(json.dumps({'run_id': 'dead', 'owner': 'x', 'at': 1, 'expires': time.time() - 1}), encoding='utf-8')
    target = tmp_path / 'elsewhere.txt'
    target.write_bytes(b'keep me\n')
    os.symlink(str(target), '%s.%d.tmp' % (path, os.getpid()))
    code, result = run({'run_id': 'B', 'path': str(path), 'timeout': 0}, capsys)
    assert code == 0 and result['holder']['run_id'] == 'B'
    assert target.read_bytes() == b'keep me\n'
    assert not path.is_symlink() and json.loads(path.read_text(encoding='utf-8'))['run_id'] == 'B'
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ['model_ops.lock', 'model_ops.lock.guard', 'elsewhere.txt', 'model_ops.lock.%d.tmp' % os.getpid()])


@pytest.mark.parametrize('content, shown', [
    ({'run_id': 'old', 'owner': 'x', 'at': 1, 'expires': 'soon'}, "expires='soon', expected seconds since the epoch"),
    ({'run_id': 'old', 'expires': None}, 'expires=None'),
    ({'run_id': 'old', 'expires': float('inf')}, 'expires=inf'),
    ({'run_id': 'old', 'expires': True}, 'expires=True'),
    ({'run_id': 'old', 'expires': 1, 'at': 'yesterday'}, "at='yesterday'"),
    ({'expires': 1}, 'run_id=None, expected a run id'),
    ({'run_id': 7, 'expires': 1}, 'run_id=7'),
    (['run_id', 'old'], "holds ['run_id', 'old'], not an object with run_id and expires"),
    ('soon', "holds 'soon', not an object"),
])
def test_a_malformed_lock_fails_clearly_and_is_left_for_a_person(tmp_path, capsys, content, shown):
    path = tmp_path / 'model_ops.lock'
    path.write_text(json.dumps(content), encoding='utf-8')
    before = path.read_bytes()
    for state in ('acquired', 'released'):
        code, result = run({'run_id': 'B', 'path': str(path), 'timeout': 0, 'state': state}, capsys)
        assert code == 1 and shown in result['msg'], result['msg']
        assert result['msg'].startswith('the lock %s ' % path) and 'remove %s if no run holds the host' % path in result['msg']
        assert path.read_bytes() == before


@pytest.mark.parametrize('data, shown', [(b'{"run_id": "old", "expires": ', "is not JSON ('{\"run_id\""),
                                         (b'\xff\xfe garbage', 'is not JSON'), (b'', "is not JSON ('')")])
def test_a_lock_that_is_not_json_fails_clearly(tmp_path, capsys, data, shown):
    path = tmp_path / 'model_ops.lock'
    path.write_bytes(data)
    code, result = run({'run_id': 'B', 'path': str(path), 'timeout': 0}, capsys)
    assert code == 1 and shown in result['msg'] and path.read_bytes() == data


def test_a_lock_folder_that_cannot_be_made_fails_clearly(tmp_path, capsys):
    (tmp_path / 'run').write_text('a file where the folder goes', encoding='utf-8')
    path = tmp_path / 'run' / 'model_ops.lock'
    code, result = run({'run_id': 'B', 'path': str(path)}, capsys)
    assert code == 1 and result['msg'] == 'cannot take the lock %s: %s.guard: Not a directory' % (path, path)


def test_a_lock_folder_the_run_may_not_write_fails_clearly(shared_tmp):
    # a run that connects as a user without write access to the app root's run/ folder
    folder = shared_tmp / 'run'
    folder.mkdir(mode=0o755)
    path = folder / 'model_ops.lock'
    code, result = run_module_as(65534, run_lock.main, {'run_id': 'B', 'path': str(path)})
    assert code == 1 and result['msg'] == 'cannot take the lock %s: %s.guard: Permission denied' % (path, path)
    assert os.listdir(str(folder)) == []


# Runs racing for the lock, 1,000 times: tests/faults/test_lock_races.py
