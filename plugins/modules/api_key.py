# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: api_key
short_description: Set the Mistral API key in a Genesis host's env file, without ever showing it
version_added: 0.1.0
description:
  - Sets C(MISTRAL_API_KEY) (or O(name)) in the env file the service reads its key from (host contract section 2),
    for the runbook's Scenario 1 (API Credentials Issue). The last assignment of the variable is replaced (an
    C(export) prefix kept), or a line is added; every other line stays as it was.
  - The file is left mode C(0600) whatever it was, its owner kept; it is replaced atomically (temporary file in the
    same folder, fsync, rename) under the lock file C(<path>.lock). O(backup=true) keeps the old file, mode C(0600).
  - The key is never returned. RV(fingerprint_before) and RV(fingerprint_after) identify the old and new key by a
    few hex digits of their SHA-256; the diff shows C(MISTRAL_API_KEY=<sha256:...>) in place of each value.
  - The service reads the env file when it starts; restart it for the change to take effect.
  - Verify the new key with M(genesis.model_ops.mistral_check) before setting it, as C(remediate_credentials.yml) does.
options:
  value:
    description:
      - The new key. Surrounding whitespace is dropped (a vault value or a pasted key often ends in a newline), as
        M(genesis.model_ops.mistral_check) does when it checks the key; a control character inside it is refused.
    type: str
    required: true
  name:
    description: The variable to set.
    type: str
    default: MISTRAL_API_KEY
  path:
    description: The env file. Its folder must exist; the file is created when missing.
    type: path
    default: /etc/genesis/genesis.env
  backup:
    description: Keep a copy of the old file, mode C(0600), as C(<path>.<YYYYmmddTHHMMSSffffff>Z.bak).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports whether the file would change (value or mode) and the fingerprints; writes nothing.
  diff_mode:
    support: full
    description: The file before and after, with each value of the variable replaced by its fingerprint.
extends_documentation_fragment: [genesis.model_ops.attributes, genesis.model_ops.file_edit]
seealso:
  - module: genesis.model_ops.mistral_check
  - module: genesis.model_ops.orchestrator_service
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Put the new key in place (from Ansible Vault)
  genesis.model_ops.api_key:
    value: "{{ mistral_api_key }}"
    path: /etc/genesis/genesis.env
    backup: true
  register: key_change
"""

RETURN = r"""
path:
  description: The env file, as given.
  returned: always
  type: str
  sample: /etc/genesis/genesis.env
name:
  description: The variable set.
  returned: always
  type: str
  sample: MISTRAL_API_KEY
fingerprint_before:
  description: The first 8 hex digits of the SHA-256 of the old value; null when there was none.
  returned: always
  type: str
  sample: 1f2e3d4c
fingerprint_after:
  description: The same for the new value.
  returned: always
  type: str
  sample: 9a8b7c6d
mode:
  description: The file's mode after the task.
  returned: always
  type: str
  sample: '0600'
backup_file:
  description: The copy of the old file.
  returned: when O(backup=true) and the file changed (not in check mode)
  type: str
  sample: /etc/genesis/genesis.env.20251031T120000123456Z.bak
audit:
  description: The line appended to O(audit_log).
  returned: when O(audit_log) is set and the file changed
  type: dict
  sample: {"at": "2026-11-26T02:40:00.123456Z", "file": "/etc/genesis/genesis.env", "key": "MISTRAL_API_KEY",
           "before": "1f2e3d4c", "after": "9a8b7c6d", "backup": null, "playbook": "remediate_credentials.yml"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesis.model_ops.plugins.module_utils._envfile import set_value
from ansible_collections.genesis.model_ops.plugins.module_utils._files import EDIT_ARGUMENT_SPEC, ConfigError, edit_option_error


def main():
    module = AnsibleModule(
        argument_spec=dict(
            value=dict(type='str', required=True, no_log=True),
            name=dict(type='str', default='MISTRAL_API_KEY'),
            path=dict(type='path', default='/etc/genesis/genesis.env'),
            backup=dict(type='bool', default=False),
            **EDIT_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    params = module.params
    error = edit_option_error(params)
    if error:
        module.fail_json(msg=error)
    try:
        result = set_value(params['path'], params['name'], params['value'], check_mode=module.check_mode,
                           backup=params['backup'], lock_timeout=params['lock_timeout'],
                           audit_log=params['audit_log'], audit_context=params['audit_context'])
    except ConfigError as exc:
        module.fail_json(msg=str(exc), path=params['path'])
    if not module._diff:
        result.pop('diff')
    module.exit_json(**result)


if __name__ == '__main__':
    main()
