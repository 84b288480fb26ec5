# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Set one value in a Genesis ``production.yaml``: the config editor modules' glue.

Shared by the ``rollout_set`` and ``finetuned_toggle`` modules. The text is planned by
``_yamledit`` (only the one scalar changes; the result re-parsed), the file written by
``_files`` (lock, backup, atomic replace, audit), the diff masked by ``_common``.

Public API:

- ``edit_config(path, keys, value, ...)`` reads, plans, and (unless check mode) writes
  under a lock, atomically; returns a ``ConfigChange``.
- ``ConfigChange`` what was (or would be) changed: path, key, before, after, backup_file,
  the texts for a diff; ``result()`` gives the module's return values. It is also the
  record an audit log can keep.
- ``run_edit(module, keys, value)`` the whole of a config editor module after its own
  option checks; ``CONFIG_ARGUMENT_SPEC`` the options every config editor takes.
"""

from __future__ import annotations

import dataclasses
import os

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask
from ansible_collections.genesis.model_ops.plugins.module_utils._files import (
    EDIT_ARGUMENT_SPEC, ConfigError, commit, edit_option_error, locked)
from ansible_collections.genesis.model_ops.plugins.module_utils._yamledit import HAS_YAML, plan_edit

DEFAULT_PATH = '/opt/genesis/infrastructure/config/production.yaml'

# The options of every config editor (plugins/doc_fragments/config_editor.py and file_edit.py document them).
CONFIG_ARGUMENT_SPEC = dict(
    path=dict(type='path', default=DEFAULT_PATH, aliases=['dest']),
    backup=dict(type='bool', default=False),
    **EDIT_ARGUMENT_SPEC
)


@dataclasses.dataclass
class ConfigChange:
    """What an edit did, or would do in check mode."""

    path: str                 # the path as given (a symlink stays a symlink; its target is edited)
    key: str                  # dotted path of the edited value, e.g. models.rollout_percentage
    before: object            # old value, None when the key was absent
    after: object             # new value as the file now parses
    changed: bool
    before_text: str
    after_text: str
    backup_file: str | None = None
    audit: dict | None = None  # the audit log line written for this change

    def result(self, diff=False):
        """The module's return values."""
        result = dict(changed=self.changed, path=self.path, key=self.key, before=self.before, after=self.after)
        if self.backup_file:
            result['backup_file'] = self.backup_file
        if self.audit:
            result['audit'] = self.audit
        if diff:
            # The whole file leaves the host in a diff (output, logs, AWX): mask what looks secret.
            result['diff'] = dict(before=mask(self.before_text), after=mask(self.after_text),
                                  before_header=self.path, after_header=self.path)
        return result


def run_edit(module, keys, value):
    """Set keys to value in the file of module.params and exit the module with the result."""
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'))
    params = module.params
    error = edit_option_error(params)
    if error:
        module.fail_json(msg=error)
    try:
        change = edit_config(params['path'], keys, value, check_mode=module.check_mode,
                             backup=params['backup'], lock_timeout=params['lock_timeout'],
                             audit_log=params['audit_log'], audit_context=params['audit_context'])
    except ConfigError as exc:
        module.fail_json(msg=str(exc), path=params['path'], key='.'.join(keys))
    else:
        if change.changed and isinstance(change.after, str):
            # The old value was quoted and keeps its quotes: the service must read a string.
            module.warn('%s was quoted in %s, so its new value is the string %r' % (change.key, change.path, change.after))
        module.exit_json(**change.result(diff=module._diff))


def edit_config(path, keys, value, check_mode=False, backup=False, lock_timeout=30.0, audit_log=None, audit_context=None):
    """Set the value at keys (a list of mapping keys) in the YAML file at path.

    Returns a ConfigChange; raises ConfigError, having changed nothing, when the edit
    cannot be made. Check mode and a run that changes nothing take no lock and write
    nothing, not even the lock file. With audit_log, a change appends one JSON line there
    (audit_context's keys, then at, file, key, before, after, backup), under the file's lock;
    an audit log that cannot be written stops the change before it is made.
    """
    target = os.path.realpath(path)  # edit the file a symlink points to and keep the link
    change = _plan_file(path, target, keys, value)[2]
    if not change.changed or check_mode:
        return change
    with locked(path, target, lock_timeout):
        # Plan again under the lock: another run may have written the file since.
        st, data, change = _plan_file(path, target, keys, value)
        if change.changed:
            change.backup_file, change.audit = commit(
                path, target, data, change.after_text.encode('utf-8'), st, backup=backup, audit_log=audit_log,
                audit_context=audit_context, record=dict(key=change.key, before=change.before, after=change.after))
    return change


def _plan_file(path, target, keys, value):
    """(stat, bytes, ConfigChange) for the file as it is now."""
    try:
        with open(target, 'rb') as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError as exc:
        raise ConfigError('%s does not exist' % path) from exc
    except OSError as exc:
        raise ConfigError('cannot read %s: %s' % (path, exc.strerror)) from exc
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ConfigError('%s is not UTF-8 text: %s' % (path, exc)) from exc
    try:
        new_text, before, after = plan_edit(text, keys, value)
    except ConfigError as exc:
        raise ConfigError('%s: %s' % (path, exc)) from exc
    return st, data, ConfigChange(path=path, key='.'.join(keys), before=before, after=after,
                                  changed=new_text != text, before_text=text, after_text=new_text)
