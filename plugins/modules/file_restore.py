# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: file_restore
short_description: Put a file of a Genesis host back from the backup an edit kept
version_added: 0.2.0
description:
  - Puts O(path) back to the bytes of O(backup), the backup that M(genesis.model_ops.rollout_set),
    M(genesis.model_ops.finetuned_toggle) or M(genesis.model_ops.api_key) kept with O(genesis.model_ops.rollout_set#module:backup=true).
    The role C(genesis.model_ops.rolling_restart) does it for a host that does not recover after a change.
  - It writes the way those modules do. The backup is read and parsed first (as YAML for a C(.yaml) or C(.yml) file,
    as UTF-8 text otherwise); one that does not parse changes nothing. Then, under the lock C(<path>.lock), a
    temporary file in the same folder gets the file's owner, group and mode (the backup's when the file is gone), is
    synced and renamed over the file. A symbolic link is followed, its target written and the link kept.
  - Needs only Python's standard library on the host, and PyYAML for a YAML file.
options:
  path:
    description:
      - The file to put back, as the editing module was given it.
    type: path
    required: true
  backup:
    description:
      - The backup to put back, the RV(genesis.model_ops.rollout_set#module:backup_file) of the edit.
    type: path
    required: true
extends_documentation_fragment: [genesis.model_ops.attributes, genesis.model_ops.file_edit]
attributes:
  check_mode:
    support: full
    description: Reads both files and reports whether a run would change the file. Writes nothing, not even the lock file.
  diff_mode:
    support: full
    description:
      - Returns the whole file before and after, with every value that looks secret masked the way
        M(genesis.model_ops.rollout_set) masks its diff (an env file's key among them).
seealso:
  - module: genesis.model_ops.rollout_set
  - module: genesis.model_ops.api_key
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Lower the rollout, keeping a backup
  genesis.model_ops.rollout_set:
    percentage: 5
    backup: true
  register: edit

- name: Put the config back as it was
  genesis.model_ops.file_restore:
    path: "{{ edit.path }}"
    backup: "{{ edit.backup_file }}"
  when: edit.backup_file is defined
"""

RETURN = r"""
path:
  description: The file put back, as given.
  returned: always
  type: str
  sample: /opt/genesis/infrastructure/config/production.yaml
backup:
  description: The backup it was put back from.
  returned: always
  type: str
  sample: /opt/genesis/infrastructure/config/production.yaml.20251031T120000123456Z.bak
audit:
  description: The line appended to O(audit_log); C(key) names the backup, C(before) and C(after) are SHA-256 digests.
  returned: when O(audit_log) is set and the file changed
  type: dict
  sample: {"at": "2026-11-26T02:40:00.123456Z", "file": "/opt/genesis/infrastructure/config/production.yaml",
           "key": "(restored from /opt/genesis/infrastructure/config/production.yaml.20251031T120000123456Z.bak)",
           "before": "sha256:9f86d081884c7d65", "after": "sha256:60303ae22b998861", "backup": null}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask
from ansible_collections.genesis.model_ops.plugins.module_utils._files import (
    EDIT_ARGUMENT_SPEC, ConfigError, edit_option_error, restore)
from ansible_collections.genesis.model_ops.plugins.module_utils._yamledit import HAS_YAML, yaml_parses


def _text(data):
    return '' if data is None else data.decode('utf-8', 'replace')


def main():
    module = AnsibleModule(
        argument_spec=dict(path=dict(type='path', required=True), backup=dict(type='path', required=True),
                           **EDIT_ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    params = module.params
    error = edit_option_error(params)
    if error:
        module.fail_json(msg=error)
    is_yaml = params['path'].endswith(('.yaml', '.yml'))
    if is_yaml and not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'))
    try:
        changed, old, new, audit = restore(params['path'], params['backup'], parse=yaml_parses if is_yaml else _utf8,
                                           check_mode=module.check_mode, lock_timeout=params['lock_timeout'],
                                           audit_log=params['audit_log'], audit_context=params['audit_context'])
    except ConfigError as exc:
        module.fail_json(msg=str(exc), path=params['path'], backup=params['backup'])
    result = dict(changed=changed, path=params['path'], backup=params['backup'])
    if audit:
        result['audit'] = audit
    if module._diff:
        result['diff'] = dict(before=mask(_text(old)), after=mask(_text(new)), before_header=params['path'],
                              after_header=params['path'])
    module.exit_json(**result)


def _utf8(data):
    data.decode('utf-8')  # a UnicodeDecodeError is a ValueError


if __name__ == '__main__':
    main()
