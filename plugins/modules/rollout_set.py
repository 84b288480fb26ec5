# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout_set
short_description: Set the share of requests sent to fine-tuned models on a Genesis host
version_added: 0.1.0
description:
  - Sets C(models.rollout_percentage) in the Genesis C(production.yaml), as the runbook's
    C(scripts/rollout_models.py --percentage N) does.
  - The edit is surgical. Only the characters of the old value are replaced (quotes, if the old
    value had them, are kept); every comment, anchor, key order and every other key stays byte
    for byte. If the key is missing it is added to the C(models) mapping in that mapping's style.
  - The result is parsed again and must differ from the old file at C(models.rollout_percentage)
    only, or nothing is written. The file is replaced atomically (temporary file in the same
    directory, fsync, rename) with its owner and mode. A symlink is followed; its target is edited
    and the link kept.
  - Runs on the same file take turns through the lock file C(<path>.lock).
  - The service reads the file when it starts; restart it for the change to take effect.
  - Needs only Python's standard library and PyYAML on the host.
options:
  percentage:
    description:
      - Share of requests, in percent, sent to the fine-tuned models.
      - An integer from 0 to 100. A string of digits such as C("5") is accepted; C(5.5), C(150) or
        C(abc) are refused.
    type: raw
    required: true
extends_documentation_fragment: [genesis.model_ops.attributes, genesis.model_ops.config_editor, genesis.model_ops.file_edit]
seealso:
  - module: genesis.model_ops.finetuned_toggle
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Send 5% of requests to the fine-tuned models
  genesis.model_ops.rollout_set:
    percentage: 5
    backup: true
  register: rollout

- name: Roll back to full rollout on a site with its own config path
  genesis.model_ops.rollout_set:
    path: "{{ genesis_config_path }}"
    percentage: 100
"""

RETURN = r"""
path:
  description: The file edited, as given.
  returned: always
  type: str
  sample: /opt/genesis/infrastructure/config/production.yaml
key:
  description: Dotted path of the edited value.
  returned: always
  type: str
  sample: models.rollout_percentage
before:
  description: The old value; null when the key was missing.
  returned: always
  type: raw
  sample: 100
after:
  description: The new value as the file parses. A string when the old value was quoted.
  returned: always
  type: raw
  sample: 5
audit:
  description: The line appended to O(audit_log) for this change.
  returned: when O(audit_log) is set and the file changed
  type: dict
  sample: {"at": "2026-11-26T02:40:00.123456Z", "file": "/opt/genesis/infrastructure/config/production.yaml",
           "key": "models.rollout_percentage", "before": 100, "after": 5, "backup": null,
           "playbook": "rollback.yml", "user": "oncall"}
backup_file:
  description: The copy of the old file.
  returned: when O(backup=true) and the file changed (not in check mode)
  type: str
  sample: /opt/genesis/infrastructure/config/production.yaml.20251031T120000123456Z.bak
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.model_ops.plugins.module_utils._common import parse_percentage
from ansible_collections.genesis.model_ops.plugins.module_utils._config import CONFIG_ARGUMENT_SPEC, run_edit


def main():
    module = AnsibleModule(
        argument_spec=dict(percentage=dict(type='raw', required=True), **CONFIG_ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    try:
        percentage = parse_percentage(module.params['percentage'])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    else:
        run_edit(module, ['models', 'rollout_percentage'], percentage)


if __name__ == '__main__':
    main()
