# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Set one variable (the API key) in a Genesis env file (host contract section 2), the safe way.

The same file primitives as the config editors (_files): a lock, a backup, an atomic replace
that keeps the owner, an audit line; and the file is always left mode 0600. The value is a
secret: it is never returned, and the diff and the audit line show a fingerprint in its place.
"""

from __future__ import annotations

import os
import re
import time
import types

from ansible_collections.genesis.model_ops.plugins.module_utils._common import env_assignment, fingerprint as _fingerprint, mask
from ansible_collections.genesis.model_ops.plugins.module_utils._files import ConfigError, commit, locked

MODE = 0o600
_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


def fingerprint(value):
    return _fingerprint(value) if value else None


def _line_value(line, name):
    """The value a KEY=VALUE line gives name, or None when the line is about something else."""
    assignment = env_assignment(line)
    return assignment[1] if assignment and assignment[0] == name else None


def plan(text, name, value):
    """(new text, old value or None): the last assignment of name set to value, or a line appended."""
    lines = text.splitlines(True)
    found = [i for i, line in enumerate(lines) if _line_value(line, name) is not None]
    old = _line_value(lines[found[-1]], name) if found else None
    if old == value:
        return text, old
    new_line = '%s=%s\n' % (name, value)
    if found:
        prefix = 'export ' if lines[found[-1]].lstrip().startswith('export ') else ''
        lines[found[-1]] = prefix + new_line
    else:
        if lines and not lines[-1].endswith('\n'):
            lines[-1] += '\n'
        lines.append(new_line)
    return ''.join(lines), old


def masked(text, name):
    """text for a diff: every assignment of name showing the fingerprint of its value, every other line masked
    (an env file holds other credentials, and old keys in comments)."""
    out = []
    for line in text.splitlines(True):
        value = _line_value(line, name)
        out.append('%s=<sha256:%s>\n' % (name, fingerprint(value)) if value is not None else mask(line))
    return ''.join(out)


def set_value(path, name, value, check_mode=False, backup=False, lock_timeout=30.0, audit_log=None, audit_context=None):
    """Set name=value in the env file at path; returns the module's result (no secret in it)."""
    if not _NAME.match(name):
        raise ConfigError('name=%s is not allowed: give a variable name (letters, digits, _)' % name)
    value = value.strip()  # as mistral_check takes a key: a vault value or a pasted one often ends in a newline
    if not value or any(c < ' ' or c == '\x7f' for c in value):
        raise ConfigError('the value for %s is not allowed: give a non-empty value without control characters (a newline '
                          'inside it; surrounding whitespace is dropped)' % name)
    target = os.path.realpath(path)
    if not os.path.isdir(os.path.dirname(target)):
        raise ConfigError('cannot write %s: its folder %s does not exist' % (path, os.path.dirname(target)))

    def read():
        try:
            st = os.stat(target)
            with open(target, 'rb') as handle:
                data = handle.read()
        except FileNotFoundError:
            return None, b''
        except OSError as exc:
            raise ConfigError('cannot read %s: %s' % (path, exc.strerror)) from exc
        return st, data

    st, data = read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ConfigError('%s is not UTF-8 text' % path) from exc
    new_text, old = plan(text, name, value)
    mode_ok = st is not None and (st.st_mode & 0o777) == MODE
    result = dict(changed=new_text != text or not mode_ok, path=path, name=name, fingerprint_before=fingerprint(old),
                  fingerprint_after=fingerprint(value), mode='0600')
    result['diff'] = dict(before=masked(text, name), after=masked(new_text, name),
                          before_header=path, after_header=path)
    if not result['changed'] or check_mode:
        return result
    with locked(path, target, lock_timeout):
        st, data = read()  # again, under the lock
        new_text, old = plan(data.decode('utf-8', 'replace'), name, value)
        now_ns = time.time_ns()
        # the owner kept (a new file: ours), the mode always 0600
        secure = types.SimpleNamespace(st_mode=MODE, st_uid=st.st_uid if st else os.geteuid(),
                                       st_gid=st.st_gid if st else os.getegid(),
                                       st_atime_ns=st.st_atime_ns if st else now_ns, st_mtime_ns=st.st_mtime_ns if st else now_ns)
        # the backup holds the key too: 0600
        backup_file, audit = commit(path, target, data, new_text.encode('utf-8'), secure, backup=backup and st is not None,
                                    audit_log=audit_log, audit_context=audit_context,
                                    record=dict(key=name, before=fingerprint(old), after=fingerprint(value)))
        result['fingerprint_before'] = fingerprint(old)
        result.update((field, item) for field, item in (('backup_file', backup_file), ('audit', audit)) if item)
    return result
