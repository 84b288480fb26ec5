# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The file primitives of every module that edits a file on a host: a lock, a backup, an
atomic write, an audit log, and ``commit`` which puts them together in the one safe order.

Standard library only. A file is replaced, never rewritten in place: a reader, or a crash,
sees the old file or the new one. The audit log is opened before the change and appended to
after it, so a log that cannot be written stops the change instead of leaving it unrecorded.
The audit log, the lock file and every temporary file are opened without following a
symbolic link planted where they go.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
import time

from ansible_collections.genesis.model_ops.plugins.module_utils._common import check_numbers, seconds
# The options every editing module shares (plugins/doc_fragments/file_edit.py documents them).
EDIT_ARGUMENT_SPEC = dict(
    lock_timeout=dict(type='raw', default=30),
    audit_log=dict(type='path'),
    audit_context=dict(type='dict', default={}),
)
EDIT_NUMBERS = dict(lock_timeout=seconds())
# What a caller's audit_context may not override: the facts of the change itself.
AUDIT_FIELDS = ('at', 'file', 'key', 'before', 'after', 'backup')


class ConfigError(Exception):
    """An expected failure (bad input, bad file, lock timeout): the message is for the operator."""


def edit_option_error(params):
    """A message naming a bad EDIT_ARGUMENT_SPEC option and what is allowed, or None (the numbers made numbers)."""
    error = check_numbers(params, EDIT_NUMBERS)
    if error:
        return error
    bad = sorted(set(params['audit_context'] or {}) & set(AUDIT_FIELDS))
    if bad:
        return 'audit_context may not set %s: those record the change itself' % ', '.join(bad)
    return None


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


@contextlib.contextmanager
def locked(path, target, timeout):
    """Hold <target>.lock so runs on the same file take turns.

    The lock file is left in place: removing it would let a waiting run and a new one
    lock two different files at once.
    """
    lock_path = target + '.lock'
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ConfigError('cannot open the lock file %s: %s' % (lock_path, _why(exc))) from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() >= deadline:
                    raise ConfigError('timed out after %gs waiting for the lock on %s: another run holds %s' % (
                        timeout, path, lock_path)) from exc
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def commit(path, target, old, new, st, backup=False, audit_log=None, audit_context=None, record=None):
    """Replace target (the file at path, read as old under the caller's lock) with new, and record it.

    In this order: the audit log opened (one that cannot be written changes nothing), what a run
    killed mid-write left removed, old kept as a backup when asked, new written atomically, then
    one audit line appended: audit_context's
    keys, at, file, record's keys (key, before, after), backup. Returns (backup file or None,
    audit line or None); raises ConfigError naming what failed.
    """
    with _audit_log(audit_log) as append:
        remove_stale_temps(target)
        try:
            backup_file = _backup(target, old, st) if backup else None
            write_atomically(target, new, st)
        except OSError as exc:
            raise ConfigError('cannot write %s: %s' % (path, exc.strerror)) from exc
        if append is None:
            return backup_file, None
        line = dict(audit_context or {}, at=utc_now(), file=path, **record)
        line['backup'] = backup_file
        try:
            append(line)
        except OSError as exc:
            raise ConfigError('%s changed (%s: %r -> %r) but the audit log %s could not be written: %s' % (
                path, line['key'], line['before'], line['after'], audit_log, exc.strerror)) from exc
        return backup_file, line


def restore(path, backup, parse=None, check_mode=False, lock_timeout=30.0, audit_log=None, audit_context=None):
    """Put the file at path (a symlink's target; the link kept) back to the bytes of backup, the way commit()
    writes: under path's lock, a temporary file with the file's owner and mode (the backup's when the file is
    gone), renamed over it, one audit line. parse(data) raises ValueError for a backup that is no valid file of
    its kind, checked before anything is written. Returns (changed, old bytes or None, new bytes, audit line or
    None); raises ConfigError, having changed nothing, naming what failed."""
    target = os.path.realpath(path)
    try:
        with open(backup, 'rb') as handle:
            backup_st, data = os.fstat(handle.fileno()), handle.read()
        if parse:
            parse(data)
    except OSError as exc:
        raise ConfigError('cannot read the backup %s: %s; nothing changed' % (backup, _why(exc))) from exc
    except ValueError as exc:
        raise ConfigError('the backup %s is not a valid file to restore: %s; nothing changed' % (backup, exc)) from exc

    def current():
        try:
            with open(target, 'rb') as handle:
                return os.fstat(handle.fileno()), handle.read()
        except FileNotFoundError:
            return backup_st, None
        except OSError as exc:
            raise ConfigError('cannot read %s: %s; nothing changed' % (path, _why(exc))) from exc

    st, old = current()
    if old == data or check_mode:
        return old != data, old, data, None
    with locked(path, target, lock_timeout):
        st, old = current()  # again, under the lock
        if old == data:
            return False, old, data, None
        line = commit(path, target, old, data, st, audit_log=audit_log, audit_context=audit_context,
                      record=dict(key='(restored from %s)' % backup, before=_digest(old), after=_digest(data)))[1]
    return True, old, data, line


def _digest(data):
    return None if data is None else 'sha256:' + hashlib.sha256(data).hexdigest()[:16]


@contextlib.contextmanager
def _audit_log(path):
    """Yield append(entry) for the audit log at path (made 0640 if new), or None without a path.

    Opened here, before the caller changes anything: a log that is a symbolic link, not a
    regular file, or cannot be written fails the change before it is made.
    """
    if not path:
        yield None
        return
    folder = os.path.dirname(path)
    if folder:
        with contextlib.suppress(OSError):  # what is in the way, the open below names
            os.makedirs(folder, exist_ok=True)
    try:
        # O_NONBLOCK: a FIFO planted there fails at once instead of waiting for a reader.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise ConfigError('cannot write the audit log %s: %s; nothing changed' % (path, _why(exc))) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError('cannot write the audit log %s: it is not a regular file; nothing changed' % path)

        def append(entry):
            line = (json.dumps(entry, sort_keys=True, default=str) + '\n').encode('utf-8')
            fcntl.flock(fd, fcntl.LOCK_EX)  # other files' edits append to the same log
            os.write(fd, line)  # one write of an O_APPEND file: never interleaved with another line
            os.fsync(fd)
        yield append
    finally:
        os.close(fd)


def _why(exc):
    if exc.errno == errno.ELOOP:
        return 'it is a symbolic link, which is not followed'
    return exc.strerror or str(exc)


def _backup(target, data, st):
    """Keep data (the file as it was read under the lock) in <target>.<UTC time>Z.bak with its mode, owner and mtime."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')
    backup = '%s.%s.bak' % (target, stamp)
    write_atomically(backup, data, st, like=target)
    os.utime(backup, ns=(st.st_atime_ns, st.st_mtime_ns))
    return backup


def remove_stale_temps(path):
    """Remove the temporary files write_atomically left beside path (for path or one of its backups) when a
    run was killed between writing one and renaming it. Call it only under path's lock: a temporary file
    then is no other run's work in progress. Returns the names removed."""
    directory, name = os.path.split(path)
    # tempfile's names: .<name>.<8 characters>.tmp, and .<name>.<stamp>Z.bak.<8 characters>.tmp for a backup
    stale = re.compile(r'\.%s\.(?:[0-9]{8}T[0-9]{12}Z\.bak\.)?[a-z0-9_]{8}\.tmp\Z' % re.escape(name))
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory or '.'):
            full = os.path.join(directory or '.', entry)
            with contextlib.suppress(OSError):
                if stale.match(entry) and stat.S_ISREG(os.lstat(full).st_mode):
                    os.unlink(full)
                    removed.append(entry)
    return removed


def _keep_attributes(like, fd, path):
    """Give the open file fd the extended attributes of the file like that are the file's, not its content's:
    its SELinux context (security.selinux: what chcon or restorecon set; a config the service may no longer
    read without it) and the site's own user.* marks. A context that cannot be kept is refused."""
    try:
        names = os.listxattr(like)
    except OSError:  # no such file, or no extended attributes on this file system
        return
    for attribute in names:
        if attribute == 'security.selinux' or attribute.startswith('user.'):
            try:
                os.setxattr(fd, attribute, os.getxattr(like, attribute))
            except OSError as exc:
                if attribute == 'security.selinux':
                    raise ConfigError('cannot keep the SELinux context of %s: %s' % (path, exc.strerror)) from exc


def write_atomically(path, data, st=None, like=None):
    """Replace path with data so that a reader, or a crash, sees the old file or the new one, never a mix.

    The new file gets st's owner and mode (st: an os.stat result, or anything with st_uid, st_gid
    and st_mode); without st it is ours, mode 0644. With st, it keeps the SELinux context and user.*
    attributes of like (default: the file at path it replaces). The temporary file has a name of its own
    (tempfile, O_EXCL): nothing planted beside path is written through.
    """
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory or '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            if st is not None:
                _keep_attributes(like or path, f.fileno(), path)
            current = os.fstat(f.fileno())
            if st is not None and (current.st_uid, current.st_gid) != (st.st_uid, st.st_gid):
                try:
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                except PermissionError as exc:
                    raise ConfigError('cannot keep the owner %d:%d of %s when running as uid %d: run it with become' % (
                        st.st_uid, st.st_gid, path, os.geteuid())) from exc
            # after fchown, which may clear setuid bits
            os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode) if st is not None else 0o644)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory is on disk too. The file is already
    # replaced here, so a file system that cannot sync a directory is no reason to fail.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory or '.', os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
