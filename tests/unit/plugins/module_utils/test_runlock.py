# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host lease lock's file: who holds it, and taking it (the run_lock module drives these)."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils._runlock import held_by_other, read, write

NOW = 1761900000.0


@pytest.mark.parametrize('text, holder', [
    ('{"run_id": "a", "expires": 5}', {'run_id': 'a', 'expires': 5}),
    ('not json', None),  # cannot be understood: counts as held
    ('["a"]', None),
    ('', None),
])
def test_read(tmp_path, text, holder):
    path = tmp_path / 'model_ops.lock'
    path.write_text(text, encoding='utf-8')
    assert read(str(path)) == holder


def test_read_a_missing_lock_is_free(tmp_path):
    assert read(str(tmp_path / 'model_ops.lock')) == {}


@pytest.mark.parametrize('holder, held', [
    ({}, False),                                            # nobody
    (None, True),                                           # unreadable
    ({'run_id': 'other', 'expires': NOW + 1}, True),        # another run, lease running
    ({'run_id': 'other', 'expires': NOW}, False),           # its lease ends now
    ({'run_id': 'other', 'expires': NOW - 1}, False),       # expired
    ({'run_id': 'other'}, False),                           # no lease at all
    ({'run_id': 'mine', 'expires': NOW + 60}, False),       # this run's own
])
def test_held_by_other(holder, held):
    assert held_by_other(holder, 'mine', NOW) is held


def test_an_exclusive_write_creates_the_lock_once(tmp_path):
    path = str(tmp_path / 'run' / 'model_ops.lock')  # the folder is made too
    assert write(path, {'run_id': 'a'}, exclusive=True) is True
    assert write(path, {'run_id': 'b'}, exclusive=True) is False  # another run got there first
    assert read(path) == {'run_id': 'a'}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_a_replacing_write_renews_the_lock(tmp_path):
    path = str(tmp_path / 'model_ops.lock')
    write(path, {'run_id': 'a', 'expires': 1}, exclusive=True)
    assert write(path, {'run_id': 'a', 'expires': 2, 'owner': 'r\u00e9mi'}, exclusive=False) is True
    assert read(path) == {'run_id': 'a', 'expires': 2, 'owner': 'r\u00e9mi'}
    assert json.loads(open(path, encoding='utf-8').read())['expires'] == 2
    assert sorted(os.listdir(str(tmp_path))) == ['model_ops.lock']  # no temporary file left
