# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A per-host lease lock that names the run holding it (the run_lock module).

The lock is a JSON file: {run_id, owner, at, expires}. Every change of it (taking a free lock,
renewing, taking over a lease that ran out, giving it back) is made while holding an flock on
a companion file, <lock>.guard, from reading the lock to replacing it: two runs that both see a
lease run out cannot both take it over, since the second reads what the first wrote. The flock
goes with the process that holds it, so a run that dies in between blocks no one. The lock file
itself is replaced atomically (a temporary file of its own, then a rename).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import time

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask, shown
from ansible_collections.genesis.model_ops.plugins.module_utils._files import remove_stale_temps, write_atomically

GUARD_SUFFIX = '.guard'


class LockError(Exception):
    """A lock that cannot be read, taken or given back; the message says why and what to do."""


class LockHeld(Exception):
    """Another run holds the lock (its content in .holder)."""

    def __init__(self, holder):
        super().__init__('held')
        self.holder = holder


def _stamp(seconds):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(seconds))


def describe(holder):
    """The run a lock names, for a message: run <id> (<owner>), since <at>, until <expires>."""
    return 'run %s (%s), since %s, until %s' % (
        holder['run_id'], holder.get('owner') or 'no owner given', _stamp(holder.get('at') or 0), _stamp(holder['expires']))


def _time(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value < 1e11


def read(path):
    """The lock's content, {} when there is no lock. Raises LockError naming what is wrong with a file
    that is not a lock this module wrote (it is never taken over: a person decides)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LockError('cannot read the lock %s: %s' % (path, _why(exc))) from exc
    with os.fdopen(fd, 'rb') as handle:
        data = handle.read(65536)
    remove = 'remove %s if no run holds the host' % path
    try:
        content = json.loads(data.decode('utf-8'))
    except (ValueError, RecursionError) as exc:
        raise LockError('the lock %s is not JSON (%s); %s' % (path, mask(shown(data.decode('utf-8', 'replace'), 60)), remove)) from exc
    if not isinstance(content, dict):
        raise LockError('the lock %s holds %s, not an object with run_id and expires; %s' % (
            path, mask(shown(content, 60)), remove))
    for field, valid, expected in (('run_id', lambda v: isinstance(v, str) and v.strip(), 'a run id'),
                                   ('expires', _time, 'seconds since the epoch'),
                                   ('at', lambda v: v is None or _time(v), 'seconds since the epoch'),
                                   ('owner', lambda v: v is None or isinstance(v, str), 'a text')):
        if not valid(content.get(field)):
            raise LockError('the lock %s has %s=%s, expected %s; %s' % (
                path, field, mask(shown(content.get(field))), expected, remove))
    return content


def _why(exc):
    if exc.errno == errno.ELOOP:
        return 'it is a symbolic link, which is not followed'
    return exc.strerror or str(exc)


@contextlib.contextmanager
def guarded(path):
    """Hold the flock on <path>.guard (made, with its folder, if missing) while the lock is read and changed."""
    guard = path + GUARD_SUFFIX
    try:
        folder = os.path.dirname(path)
        if folder and not os.path.lexists(folder):  # what is in the way, the open below names
            os.makedirs(folder)
        fd = os.open(guard, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise LockError('cannot take the lock %s: %s: %s' % (path, exc.filename or guard, _why(exc))) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a read and a rename: never long
        yield
    finally:
        os.close(fd)


def _write(path, content):
    remove_stale_temps(path)  # of a run killed while writing the lock, under the same guard
    try:
        write_atomically(path, json.dumps(content).encode('utf-8'))
    except OSError as exc:
        raise LockError('cannot write the lock %s: %s' % (path, _why(exc))) from exc


def try_acquire(path, run_id, owner, lease, check_mode=False, now=time.time):
    """Take the lock for run_id, renew it if run_id holds it, or take it over when its lease ran out.

    Returns (changed, content): the lock as it now is (in check mode, as it is found). Raises LockHeld
    when another run's lease runs, LockError for a lock that cannot be read or written.
    """
    if check_mode:
        holder = read(path)
        if holder and holder['run_id'] != run_id and holder['expires'] > now():
            raise LockHeld(holder)
        return not holder or holder['run_id'] != run_id, holder or None
    with guarded(path):
        holder = read(path)
        moment = now()
        if holder and holder['run_id'] != run_id and holder['expires'] > moment:
            raise LockHeld(holder)
        mine = bool(holder) and holder['run_id'] == run_id
        content = dict(run_id=run_id, owner=owner or (holder.get('owner') or '' if mine else ''),
                       at=holder.get('at') or moment if mine else moment, expires=moment + lease)
        _write(path, content)
        return not mine, content


def acquire(path, run_id, owner, lease, timeout, check_mode=False, sleep=time.sleep, clock=time.monotonic):
    """try_acquire until it succeeds or timeout seconds have passed; returns (changed, content, waited).
    Raises LockHeld (with the holder and the seconds waited in .waited) or LockError."""
    started = clock()
    while True:
        try:
            changed, content = try_acquire(path, run_id, owner, lease, check_mode)
            return changed, content, round(clock() - started, 1)
        except LockHeld as held:
            if clock() - started >= timeout:
                held.waited = timeout
                raise
        sleep(min(0.5, max(0.0, timeout - (clock() - started))))


def release(path, run_id, check_mode=False):
    """Give the lock back when run_id holds it; returns (changed, content left: None when gone)."""
    if check_mode:
        holder = read(path)
        return bool(holder) and holder['run_id'] == run_id, holder or None
    with guarded(path):
        holder = read(path)
        if not holder or holder['run_id'] != run_id:
            return False, holder or None
        try:
            os.unlink(path)
        except OSError as exc:
            raise LockError('cannot remove the lock %s: %s' % (path, _why(exc))) from exc
        return True, None
