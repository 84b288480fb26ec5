# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:

    # The options of every module that edits a file on a Genesis host; the argument spec is
    # plugins/module_utils/_files.py's EDIT_ARGUMENT_SPEC.
    DOCUMENTATION = r"""
options:
  lock_timeout:
    description:
      - Seconds to wait for another run on the same file to finish before failing.
    type: raw
    default: 30
  audit_log:
    description:
      - A file to append one JSON line to when the file changes (not in check mode, not when nothing changes),
        under the same lock as the edit. The line holds O(audit_context)'s keys and C(at) (UTC), C(file),
        C(key), C(before), C(after) (for a secret, its fingerprint) and C(backup) (the backup file, or null).
        RV(audit) returns it.
      - The log is opened before the file is changed. One that cannot be written, is not a regular file or is a
        symbolic link (which is not followed) fails the task with nothing changed.
      - The playbooks of the collection use C(<app root>/logs/model_ops_audit.jsonl), which
        M(genesis.model_ops.host_evidence) reads back as recent changes.
    type: path
  audit_context:
    description:
      - Who and what made the change, recorded in the audit line, for example C(playbook), C(user), C(job).
      - May not set the keys that record the change itself (C(at), C(file), C(key), C(before), C(after), C(backup)).
    type: dict
    default: {}
"""
