# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run lock's primitives, each decision on its own: a free lock taken, an own lease renewed, another run's
refused until its lease ends (and then taken over), check mode reading only, the wait's clock, giving back only
one's own, and every malformed lock refused by name. (The races are in tests/faults/test_lock_races.py.)"""

from __future__ import annotations

import errno
import json
import os
import stat
import threading

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _runlock
from ansible_collections.genesis.model_ops.plugins.module_utils._common import shown
from ansible_collections.genesis.model_ops.plugins.module_utils._runlock import LockError, LockHeld

NOW = 1_800_000_000.0


def clock(value=NOW):
    return lambda: value


def lock_at(tmp_path, **content):
    path = str(tmp_path / 'run' / 'model_ops.lock')
    if content:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(content, handle)
    return path


def on_disk(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def test_describe_names_the_run_its_owner_and_its_lease():
    holder = {'run_id': 'r1', 'owner': 'rollback.yml by alice', 'at': 60, 'expires': 120}
    assert _runlock.describe(holder) == 'run r1 (rollback.yml by alice), since 1970-01-01T00:01:00Z, until 1970-01-01T00:02:00Z'
    assert _runlock.describe({'run_id': 'r2', 'expires': 3600}) == (
        'run r2 (no owner given), since 1970-01-01T00:00:00Z, until 1970-01-01T01:00:00Z')


@pytest.mark.parametrize('value,valid', [
    (0, True), (0.5, True), (NOW, True), (99_999_999_999, True), (1e11, False), (-1, False), (True, False),
    (float('inf'), False), (float('nan'), False), ('1', False), (None, False)])
def test_a_time_is_seconds_since_the_epoch(value, valid):
    assert bool(_runlock._time(value)) is valid  # pylint: disable=protected-access


def test_a_missing_lock_is_free(tmp_path):
    assert _runlock.read(str(tmp_path / 'none')) == {}


def test_read_returns_the_lock_as_written(tmp_path):
    path = lock_at(tmp_path, run_id='r1', owner='o', at=NOW, expires=NOW + 60)
    assert _runlock.read(path) == {'run_id': 'r1', 'owner': 'o', 'at': NOW, 'expires': NOW + 60}
    path = lock_at(tmp_path, run_id='r2', expires=NOW)  # at and owner may be left out
    assert _runlock.read(path) == {'run_id': 'r2', 'expires': NOW}


def test_only_the_first_64_kib_of_a_lock_are_read(tmp_path):
    """A lock is a few hundred bytes: a bigger file is not this module's lock, and is not read whole."""
    path = tmp_path / 'model_ops.lock'
    head = '{"run_id": "r", "expires": 1, "owner": "'
    path.write_text(head + 'o' * (65537 - len(head) - 2) + '"}', encoding='utf-8')
    assert os.path.getsize(path) == 65537
    with pytest.raises(LockError) as caught:
        _runlock.read(str(path))
    assert 'is not JSON' in str(caught.value)
    path.write_text(head + 'o' * (65536 - len(head) - 2) + '"}', encoding='utf-8')
    assert _runlock.read(str(path))['owner'] == 'o' * (65536 - len(head) - 2)


def test_a_fifo_planted_as_the_lock_never_blocks_the_run(tmp_path):
    path = str(tmp_path / 'model_ops.lock')
    os.mkfifo(path)
    outcome = []

    def reading():
        try:
            _runlock.read(path)
        except LockError as exc:
            outcome.append(str(exc))
    thread = threading.Thread(target=reading, daemon=True)
    thread.start()
    thread.join(5)
    blocked = thread.is_alive()
    if blocked:  # opened blocking: let it go before failing
        with open(path, 'wb'):
            pass
        thread.join(5)
    assert not blocked, 'reading a FIFO planted as the lock blocked the run'
    assert outcome and 'is not JSON' in outcome[0], outcome


def test_a_long_malformed_lock_is_shown_shortened(tmp_path):
    path = tmp_path / 'model_ops.lock'
    path.write_text('no lock ' * 30, encoding='utf-8')
    with pytest.raises(LockError) as caught:
        _runlock.read(str(path))
    assert '(%s)' % shown('no lock ' * 30, 60) in str(caught.value), caught.value
    path.write_text(json.dumps(['a list '] * 30), encoding='utf-8')
    with pytest.raises(LockError) as caught:
        _runlock.read(str(path))
    assert 'holds %s, not an object' % shown(['a list '] * 30, 60) in str(caught.value), caught.value


def test_an_error_without_text_is_named_by_what_it_is():
    assert _runlock._why(OSError(5)) == '5'  # pylint: disable=protected-access
    assert _runlock._why(OSError(errno.EACCES, 'Permission denied')) == 'Permission denied'  # pylint: disable=protected-access


def test_a_lock_that_is_a_symbolic_link_is_not_followed(tmp_path):
    target = tmp_path / 'elsewhere'
    target.write_text(json.dumps({'run_id': 'r', 'expires': NOW}), encoding='utf-8')
    path = tmp_path / 'model_ops.lock'
    os.symlink(target, path)
    with pytest.raises(LockError) as caught:
        _runlock.read(str(path))
    assert str(caught.value) == 'cannot read the lock %s: it is a symbolic link, which is not followed' % path


def test_a_lock_that_cannot_be_opened_says_why(tmp_path):
    (tmp_path / 'afile').write_text('x', encoding='utf-8')
    path = str(tmp_path / 'afile' / 'model_ops.lock')
    with pytest.raises(LockError) as caught:
        _runlock.read(path)
    assert str(caught.value) == 'cannot read the lock %s: Not a directory' % path


@pytest.mark.parametrize('data,shown', [
    (b'{"run_id": ', 'is not JSON (\'{"run_id": \')'),
    (b'[1, 2]', 'holds [1, 2], not an object with run_id and expires'),
    (b'{"expires": 1}', 'has run_id=None, expected a run id'),
    (b'{"run_id": "  ", "expires": 1}', "has run_id='  ', expected a run id"),
    (b'{"run_id": "r", "expires": "soon"}', "has expires='soon', expected seconds since the epoch"),
    (b'{"run_id": "r", "expires": 1, "at": -5}', 'has at=-5, expected seconds since the epoch'),
    (b'{"run_id": "r", "expires": 1, "owner": 7}', 'has owner=7, expected a text'),
])
def test_a_malformed_lock_is_named_and_left_for_a_person(tmp_path, data, shown):
    path = tmp_path / 'model_ops.lock'
    path.write_bytes(data)
    with pytest.raises(LockError) as caught:
        _runlock.read(str(path))
    message = str(caught.value)
    assert message.startswith('the lock %s ' % path) and shown in message, message
    assert message.endswith('; remove %s if no run holds the host' % path), message


def test_the_guard_is_made_with_its_folder_and_held_while_inside(tmp_path):
    path = str(tmp_path / 'new' / 'model_ops.lock')
    with _runlock.guarded(path):
        guard = path + '.guard'
        assert stat.S_IMODE(os.stat(guard).st_mode) & 0o777 == 0o644 & ~_umask()
        with open(guard, encoding='utf-8') as handle:
            import fcntl  # pylint: disable=import-outside-toplevel
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(guard, encoding='utf-8') as handle:  # given up on the way out
        import fcntl  # pylint: disable=import-outside-toplevel,reimported
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_guard_that_cannot_be_made_says_where(tmp_path):
    (tmp_path / 'afile').write_text('x', encoding='utf-8')
    path = str(tmp_path / 'afile' / 'model_ops.lock')
    with pytest.raises(LockError) as caught:
        with _runlock.guarded(path):
            pass
    assert str(caught.value).startswith('cannot take the lock %s: ' % path), caught.value
    assert 'Not a directory' in str(caught.value)


def test_a_free_lock_is_taken_with_the_run_its_owner_and_a_lease(tmp_path):
    path = lock_at(tmp_path)
    changed, content = _runlock.try_acquire(path, 'r1', 'rollback.yml by alice', 60, now=clock())
    assert changed is True
    assert content == {'run_id': 'r1', 'owner': 'rollback.yml by alice', 'at': NOW, 'expires': NOW + 60}
    assert on_disk(path) == content
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith('.tmp')]


def test_an_own_lease_is_renewed_and_keeps_its_start_and_owner(tmp_path):
    path = lock_at(tmp_path, run_id='r1', owner='first', at=NOW - 30, expires=NOW + 5)
    changed, content = _runlock.try_acquire(path, 'r1', '', 60, now=clock())
    assert changed is False
    assert content == {'run_id': 'r1', 'owner': 'first', 'at': NOW - 30, 'expires': NOW + 60} == on_disk(path)
    changed, content = _runlock.try_acquire(path, 'r1', 'second', 10, now=clock(NOW + 1))
    assert (changed, content['owner'], content['at'], content['expires']) == (False, 'second', NOW - 30, NOW + 11)


def test_an_own_lease_without_start_or_owner_gets_them_now(tmp_path):
    path = lock_at(tmp_path, run_id='r1', expires=NOW + 5)
    assert _runlock.try_acquire(path, 'r1', None, 60, now=clock()) == (
        False, {'run_id': 'r1', 'owner': '', 'at': NOW, 'expires': NOW + 60})


def test_another_runs_lease_is_refused_until_it_ends_then_taken_over(tmp_path):
    other = {'run_id': 'r0', 'owner': 'remediate.yml by bob', 'at': NOW - 10, 'expires': NOW + 1}
    path = lock_at(tmp_path, **other)
    with pytest.raises(LockHeld) as caught:
        _runlock.try_acquire(path, 'r1', 'mine', 60, now=clock())
    assert caught.value.holder == other and on_disk(path) == other
    # a lease that ends this very second is over
    changed, content = _runlock.try_acquire(path, 'r1', 'mine', 60, now=clock(NOW + 1))
    assert changed is True
    assert content == {'run_id': 'r1', 'owner': 'mine', 'at': NOW + 1, 'expires': NOW + 61} == on_disk(path)
    # a run that names no owner does not take the last one's name with the lease
    path = lock_at(tmp_path, **other)
    assert _runlock.try_acquire(path, 'r2', '', 60, now=clock(NOW + 2))[1]['owner'] == ''


def test_check_mode_reads_and_writes_nothing(tmp_path):
    path = lock_at(tmp_path)
    assert _runlock.try_acquire(path, 'r1', 'o', 60, check_mode=True, now=clock()) == (True, None)
    assert not os.path.exists(path) and not os.path.exists(path + '.guard')
    own = {'run_id': 'r1', 'expires': NOW + 5}
    path = lock_at(tmp_path, **own)
    assert _runlock.try_acquire(path, 'r1', 'o', 60, check_mode=True, now=clock()) == (False, own)
    other = {'run_id': 'r0', 'expires': NOW + 5}
    path = lock_at(tmp_path, **other)
    with pytest.raises(LockHeld) as caught:
        _runlock.try_acquire(path, 'r1', 'o', 60, check_mode=True, now=clock())
    assert caught.value.holder == other
    assert _runlock.try_acquire(path, 'r1', 'o', 60, check_mode=True, now=clock(NOW + 5)) == (True, other)
    assert on_disk(path) == other


def test_a_lock_that_cannot_be_written_says_so(tmp_path):
    path = lock_at(tmp_path)
    os.makedirs(path)  # a folder where the lock goes: the rename over it fails
    with pytest.raises(LockError) as caught:
        _runlock._write(path, {'run_id': 'r'})  # pylint: disable=protected-access
    assert str(caught.value).startswith('cannot write the lock %s: ' % path), caught.value


class Clock:
    """A monotonic clock moved on only by sleep()."""

    def __init__(self):
        self.now, self.slept = 100.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        assert len(self.slept) < 20, 'the wait does not end'
        self.now += seconds


def test_acquire_waits_in_half_seconds_then_names_the_holder_and_the_wait(tmp_path):
    path = lock_at(tmp_path, run_id='r0', expires=4e10)
    ticks = Clock()
    with pytest.raises(LockHeld) as caught:
        _runlock.acquire(path, 'r1', 'o', 60, 1.2, sleep=ticks.sleep, clock=ticks)
    assert caught.value.waited == 1.2 and caught.value.holder['run_id'] == 'r0'
    assert [round(s, 6) for s in ticks.slept] == [0.5, 0.5, 0.2], ticks.slept
    ticks = Clock()  # a wait that ends on the timeout exactly: no further try
    with pytest.raises(LockHeld):
        _runlock.acquire(path, 'r1', 'o', 60, 1.0, sleep=ticks.sleep, clock=ticks)
    assert ticks.slept == [0.5, 0.5]


def test_acquire_returns_how_long_it_waited(tmp_path):
    path = lock_at(tmp_path)
    ticks = Clock()
    assert _runlock.acquire(path, 'r1', 'o', 60, 5, sleep=ticks.sleep, clock=ticks)[::2] == (True, 0.0)
    other = dict(run_id='r0', expires=4e10)
    path = lock_at(tmp_path, **other)
    calls = []

    def free_after_two(seconds):
        ticks.sleep(seconds + 0.13)  # a sleep takes a little longer than asked
        calls.append(seconds)
        if len(calls) == 2:
            os.unlink(path)
    changed, content, waited = _runlock.acquire(path, 'r1', 'o', 60, 5, sleep=free_after_two, clock=ticks)
    assert (changed, content['run_id'], waited) == (True, 'r1', 1.3)  # 1.26 s, to a tenth


def test_release_gives_back_only_ones_own_lock(tmp_path):
    path = lock_at(tmp_path)
    assert _runlock.release(path, 'r1') == (False, None)
    other = {'run_id': 'r0', 'expires': NOW}
    path = lock_at(tmp_path, **other)
    assert _runlock.release(path, 'r1') == (False, other) and on_disk(path) == other
    assert _runlock.release(path, 'r1', check_mode=True) == (False, other)
    assert _runlock.release(path, 'r0', check_mode=True) == (True, other) and on_disk(path) == other
    assert _runlock.release(path, 'r0') == (True, None) and not os.path.exists(path)
    assert _runlock.release(path, 'r0', check_mode=True) == (False, None)


def test_a_lock_that_cannot_be_removed_says_so(tmp_path, monkeypatch):
    path = lock_at(tmp_path, run_id='r0', expires=NOW)

    def refuse(name, *args, **kwargs):
        if name == path:
            raise PermissionError(13, 'Permission denied', name)
        return real_unlink(name, *args, **kwargs)
    real_unlink = os.unlink
    monkeypatch.setattr(os, 'unlink', refuse)
    with pytest.raises(LockError) as caught:
        _runlock.release(path, 'r0')
    assert str(caught.value) == 'cannot remove the lock %s: Permission denied' % path
