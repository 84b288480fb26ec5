# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: orchestrator_service
short_description: Restart or start genesis-orchestrator on a Genesis host, through systemd or its pid file
version_added: 0.1.0
description:
  - Restarts (or starts, when it is not running) the Genesis orchestrator the way the host contract says
    (section 2), so that a changed C(production.yaml) or env file takes effect.
  - With systemd, C(systemctl restart genesis-orchestrator) (or C(start)).
  - In process mode (hosts without systemd), the service is the process named by its pid file. It is
    stopped by that pid, never by a pattern, and only when that process is provably the service (it works
    in O(app_root), its command line ends with the arguments of O(command) (C(genesis_orchestrator.py)), and
    it started before the pid file was written). A pid file whose pid is gone or now belongs to another
    process (an operator's shell in the app root, a reused pid) is stale, and nothing is signalled.
  - Nothing is stopped before the start is known to be possible, in check mode too (O(config_path) readable
    YAML with a C(models:) mapping, O(env_file) readable, O(command)'s program an executable file on the C(PATH)
    the service gets, O(app_root) a directory, and with systemd the unit known to it). A restart bound to fail
    fails with the service still running.
    The service is stopped with SIGTERM, and SIGKILL after O(stop_timeout); then O(command) is started
    detached in O(app_root), with the variables of O(env_file) in its environment, its output appended
    to C(logs/orchestrator.out). The start succeeds when the pid file names a new process of the app root
    within O(start_timeout); a process that exits first fails the task with the last lines of its
    output (anything that looks like a key masked).
  - Readiness (C(/health) answering, agents no worse than before) is for
    M(genesis.model_ops.model_health) with O(genesis.model_ops.model_health#module:wait=true) to check,
    as the role C(genesis.model_ops.rolling_restart) does.
  - Needs only Python's standard library on the host (and Linux C(/proc)).
options:
  state:
    description:
      - V(restarted) stops the running service, if any, and starts it; V(started) starts it only when it is not running.
    type: str
    choices: [restarted, started]
    default: restarted
  manager:
    description:
      - How the service is run. V(auto) is V(systemd) when systemd runs on the host and knows the unit O(name),
        else V(process).
    type: str
    choices: [auto, systemd, process]
    default: auto
  name:
    description:
      - The systemd unit.
    type: str
    default: genesis-orchestrator
  app_root:
    description:
      - The Genesis app root, where the service runs in process mode.
    type: path
    default: /opt/genesis
  pid_file:
    description:
      - The service's pid file in process mode. Default C(<app_root>/run/genesis-orchestrator.pid).
    type: path
  config_path:
    description:
      - The runtime config the service starts with, checked before anything is stopped (without PyYAML on the
        host, not checked). Default C(<app_root>/infrastructure/config/production.yaml).
    type: path
  env_file:
    description:
      - The env file whose variables (C(MISTRAL_API_KEY)) the service gets in process mode.
    type: path
    default: /etc/genesis/genesis.env
  command:
    description:
      - The command that starts the service in process mode, run in O(app_root).
    type: list
    elements: str
    default: [python3, genesis_orchestrator.py]
  stop_timeout:
    description:
      - Seconds to wait after SIGTERM before SIGKILL, in process mode.
    type: raw
    default: 20
  start_timeout:
    description:
      - Seconds to wait for the pid file to name the new process, in process mode.
    type: raw
    default: 30
attributes:
  check_mode:
    support: full
    description: Reports whether the service would be restarted or started, and its current pid; signals and starts nothing.
  diff_mode:
    support: none
    description: A restart has no diff; RV(old_pid) and RV(pid) say what changed.
extends_documentation_fragment: [genesis.model_ops.attributes]
seealso:
  - module: genesis.model_ops.model_health
notes:
  - The key in the env file is passed to the service's environment and never returned.
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Restart the orchestrator for the new config to take effect
  genesis.model_ops.orchestrator_service:
    app_root: "{{ genesis_app_root }}"
    env_file: "{{ genesis_env_file }}"
    manager: "{{ genesis_service_manager }}"
  register: restart

- name: Start the orchestrator where it is down (a stale pid file is no obstacle)
  genesis.model_ops.orchestrator_service:
    state: started
    manager: process
    app_root: /opt/genesis
"""

RETURN = r"""
manager:
  description: How the service was handled.
  returned: always
  type: str
  sample: process
state:
  description: The state asked for.
  returned: always
  type: str
  sample: restarted
old_pid:
  description: The service's pid before the task; null when it was not running.
  returned: always
  type: int
  sample: 4242
pid:
  description: The service's pid after the task; in check mode the current one when nothing would change, else null.
  returned: always
  type: int
  sample: 4377
stopped:
  description: How the old process stopped in process mode, V(term) or V(kill); null when none was stopped.
  returned: always
  type: str
  sample: term
stale_pid_file:
  description: Whether the pid file named no process of this app root (a crash, or a reused pid).
  returned: always
  type: bool
  sample: false
pid_file:
  description: The pid file in process mode; null with systemd.
  returned: always
  type: str
  sample: /opt/genesis/run/genesis-orchestrator.pid
at:
  description:
    - When the task ended, in seconds since the Unix epoch by the host's own clock. A wait for health that follows
      on the host counts from it (M(genesis.model_ops.model_health)'s O(genesis.model_ops.model_health#module:wait_started)),
      whatever the controller's clock says.
  returned: success
  type: float
  sample: 1761912180.25
"""

import time


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesis.model_ops.plugins.module_utils._common import check_numbers, seconds
from ansible_collections.genesis.model_ops.plugins.module_utils._service import ServiceError, manage


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['restarted', 'started'], default='restarted'),
            manager=dict(type='str', choices=['auto', 'systemd', 'process'], default='auto'),
            name=dict(type='str', default='genesis-orchestrator'),
            app_root=dict(type='path', default='/opt/genesis'),
            pid_file=dict(type='path'),
            config_path=dict(type='path'),
            env_file=dict(type='path', default='/etc/genesis/genesis.env'),
            command=dict(type='list', elements='str', default=['python3', 'genesis_orchestrator.py']),
            stop_timeout=dict(type='raw', default=20),
            start_timeout=dict(type='raw', default=30),
        ),
        supports_check_mode=True,
    )
    error = check_numbers(module.params, dict(stop_timeout=seconds(above=True), start_timeout=seconds(above=True)))
    if error:
        module.fail_json(msg=error)
    if not module.params['command']:
        module.fail_json(msg='command=[] is not allowed: give the command that starts the service')
    try:
        result = manage(module.params, module.check_mode)
    except ServiceError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(at=time.time(), **result)


if __name__ == '__main__':
    main()
