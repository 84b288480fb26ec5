# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: finetuned_toggle
short_description: Turn fine-tuned models on or off on a Genesis host, globally or for one agent
version_added: 0.1.0
description:
  - Sets C(models.use_finetuned) in the Genesis C(production.yaml) (the runbook's Disable Fine-Tuned
    Models step), or with O(agent) that agent's C(models.agents.<agent>.use_finetuned) override.
  - "An agent without a C(use_finetuned) key gets one, in its own style. For a block mapping, a new
    line at the indentation of the agent's keys after its last key; for a flow mapping such as
    C({finetuned: ..., baseline: ...}), C(, use_finetuned: false) before the closing brace."
  - The edit is surgical. Only the characters of the old value are replaced (quotes, if the old
    value had them, are kept); every comment, anchor, key order and every other key stays byte
    for byte.
  - The result is parsed again and must differ from the old file at the edited key only, or
    nothing is written. The file is replaced atomically (temporary file in the same directory,
    fsync, rename) with its owner and mode. A symlink is followed; its target is edited and the
    link kept.
  - Runs on the same file take turns through the lock file C(<path>.lock).
  - The service reads the file when it starts; restart it for the change to take effect.
  - Needs only Python's standard library and PyYAML on the host.
options:
  enabled:
    description:
      - Whether requests may go to fine-tuned models. V(false) puts the agents concerned on their baseline.
    type: bool
    required: true
  agent:
    description:
      - The agent (a key of C(models.agents)) whose override to set.
      - When omitted, the global switch C(models.use_finetuned) is set.
      - An agent that is not in the file is refused; the message names the agents that are.
    type: str
extends_documentation_fragment: [genesis.model_ops.attributes, genesis.model_ops.config_editor, genesis.model_ops.file_edit]
seealso:
  - module: genesis.model_ops.rollout_set
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Put every agent on its baseline model
  genesis.model_ops.finetuned_toggle:
    enabled: false
    backup: true

- name: Take only the QA agent off its fine-tuned model
  genesis.model_ops.finetuned_toggle:
    agent: qa_agent
    enabled: false

- name: Put the agents back on their fine-tuned models
  genesis.model_ops.finetuned_toggle:
    agent: "{{ item }}"
    enabled: true
  loop: "{{ genesis_agents }}"
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
  sample: models.agents.qa_agent.use_finetuned
before:
  description: The old value; null when the key was missing.
  returned: always
  type: raw
  sample: true
after:
  description: The new value as the file parses. A string when the old value was quoted.
  returned: always
  type: raw
  sample: false
audit:
  description: The line appended to O(audit_log) for this change.
  returned: when O(audit_log) is set and the file changed
  type: dict
  sample: {"at": "2026-11-26T02:40:00.123456Z", "file": "/opt/genesis/infrastructure/config/production.yaml",
           "key": "models.agents.qa_agent.use_finetuned", "before": true, "after": false,
           "backup": "/opt/genesis/infrastructure/config/production.yaml.20261126T024000123456Z.bak",
           "playbook": "remediate_model_unavailable.yml", "user": "oncall"}
backup_file:
  description: The copy of the old file.
  returned: when O(backup=true) and the file changed (not in check mode)
  type: str
  sample: /opt/genesis/infrastructure/config/production.yaml.20251031T120000123456Z.bak
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.genesis.model_ops.plugins.module_utils._config import CONFIG_ARGUMENT_SPEC, run_edit


def main():
    module = AnsibleModule(
        argument_spec=dict(enabled=dict(type='bool', required=True), agent=dict(type='str'), **CONFIG_ARGUMENT_SPEC),
        supports_check_mode=True,
    )
    agent = module.params['agent']
    keys = ['models', 'agents', agent, 'use_finetuned'] if agent is not None else ['models', 'use_finetuned']
    run_edit(module, keys, module.params['enabled'])


if __name__ == '__main__':
    main()
