# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action of genesis.model_ops.report_files: a report's files written on the controller, in-process."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase
from ansible_collections.genesis.model_ops.plugins.module_utils._files import write_atomically


def _mode(name, value):
    """An octal mode given as text ('0640') or as a number (0o640); AnsibleActionFail naming it otherwise."""
    text = to_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
        return value
    if isinstance(value, str) and text.isdigit() and all(c in '01234567' for c in text) and int(text, 8) <= 0o7777:
        return int(text, 8)
    raise AnsibleActionFail('%s=%r is not allowed: give an octal mode such as "0640"' % (name, value))


def _kind(value):
    """What a value is, in the words of a playbook (2.19 hands tagged subclasses of dict, list and str)."""
    for kind, name in ((bool, 'a boolean'), (int, 'a number'), (float, 'a number'), (Mapping, 'a dict'),
                       (list, 'a list'), (type(None), 'null')):
        if isinstance(value, kind):
            return name
    return type(value).__name__


class _Mode:  # pylint: disable=too-few-public-methods
    """What write_atomically takes from an os.stat result: our owner, and the mode asked for."""

    def __init__(self, mode):
        self.st_uid, self.st_gid, self.st_mode = os.geteuid(), os.getegid(), stat.S_IFREG | mode


class ActionModule(ActionBase):
    """Write each file of ``files`` into ``folder`` atomically; make ``folder`` first."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('folder', 'files', 'mode', 'folder_mode'))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        folder = args.get('folder')
        if not isinstance(folder, str) or not folder:
            raise AnsibleActionFail('folder=%r is not allowed: give the path of a folder on the controller' % (folder,))
        files = args.get('files') or []
        if not isinstance(files, list):
            raise AnsibleActionFail('files must be a list of {name, content}, not %s' % _kind(files))
        mode, folder_mode = _mode('mode', args.get('mode', '0640')), _mode('folder_mode', args.get('folder_mode', '0750'))
        folder = os.path.abspath(os.path.expanduser(folder))
        planned = []
        for index, item in enumerate(files):
            name = item.get('name') if isinstance(item, dict) else None
            content = item.get('content') if isinstance(item, dict) else None
            if not isinstance(name, str) or not name or name in ('.', '..') or '/' in name or '\0' in name:
                raise AnsibleActionFail('files[%d].name=%r is not allowed: give a file name without a folder' % (index, name))
            if not isinstance(content, str):
                raise AnsibleActionFail('files[%d].content for %s is not allowed: give text, not %s'
                                        % (index, name, _kind(content)))
            planned.append((os.path.join(folder, name), to_bytes(content, errors='surrogate_or_strict')))
        result.update(folder=folder, paths=[path for path, _data in planned], changed=False)
        if self._task.check_mode:
            return result
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder, mode=folder_mode, exist_ok=True)
                os.chmod(folder, folder_mode)  # not narrowed by the umask
                result['changed'] = True
        except OSError as exc:
            raise AnsibleActionFail('cannot make the report folder %s: %s' % (folder, exc.strerror or exc)) from exc
        for path, data in planned:
            try:
                write_atomically(path, data, _Mode(mode))
            except OSError as exc:
                raise AnsibleActionFail('cannot write the report file %s: %s' % (path, exc.strerror or exc)) from exc
        result['changed'] = result['changed'] or bool(planned)
        return result
