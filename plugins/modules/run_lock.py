# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: run_lock
short_description: Hold a Genesis host for one remediation run, so that two runs never interleave on it
version_added: 0.1.0
description:
  - A lock file on the host, C(<app root>/run/model_ops.lock) by default, that names the run holding it. The
    remediation playbooks take it before they change a host and give it back when they are done with it, so a
    second run on the same host waits, at most O(timeout) seconds, and then fails with a message naming the run
    that holds the host.
  - The lock is a lease. It expires after O(lease) seconds, so a run that died without giving it back does not
    block the host forever.
  - V(acquired) by the run that already holds it renews the lease. V(released) removes the file only when
    the run named in it is O(run_id).
  - Taking the lock, renewing it, taking over a lease that ran out and giving it back are each atomic. Each is
    done holding an C(flock) on the companion file C(<path>.guard) (left in place), from reading the lock to
    replacing it, so runs that race for a free lock or an expired lease end with one holder. A run killed while
    holding the C(flock) loses it with its process.
  - A lock file that this module did not write (not JSON, not an object, a C(run_id) or C(expires) missing or of the
    wrong type, such as C(expires) set to V(soon)) is never taken over. The task fails naming what is wrong, for a person to
    remove the file. So does a lock folder the module cannot write.
  - Needs only Python's standard library on the host.
options:
  state:
    description: V(acquired) to take (or renew) the lock, V(released) to give it back.
    type: str
    choices: [acquired, released]
    default: acquired
  run_id:
    description: What identifies this run (the playbooks use the start time and a random number).
    type: str
    required: true
  path:
    description: The lock file.
    type: path
    default: /opt/genesis/run/model_ops.lock
  owner:
    description: Who holds the lock, for the message another run gets (for example the playbook and the user).
    type: str
    default: ''
  timeout:
    description: Seconds to wait for another run's lock to go before failing.
    type: raw
    default: 60
  lease:
    description: Seconds after which a lock nobody gave back counts as gone.
    type: raw
    default: 1800
attributes:
  check_mode:
    support: full
    description: Reports whether the lock is free (or held by this run) and who holds it; takes and removes nothing.
  diff_mode:
    support: none
    description: Nothing to show.
extends_documentation_fragment: [genesis.model_ops.attributes]
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Hold the host for this run
  genesis.model_ops.run_lock:
    run_id: "{{ model_ops_run_id }}"
    path: "{{ genesis_app_root }}/run/model_ops.lock"
    owner: remediate_rate_limit.yml by {{ lookup('ansible.builtin.env', 'USER') }}

- name: Give the host back
  genesis.model_ops.run_lock:
    state: released
    run_id: "{{ model_ops_run_id }}"
    path: "{{ genesis_app_root }}/run/model_ops.lock"
"""

RETURN = r"""
path:
  description: The lock file.
  returned: always
  type: str
  sample: /opt/genesis/run/model_ops.lock
holder:
  description: The lock's content after the task (or, in check mode and on failure, the run holding it); null when free.
  returned: always
  type: dict
  sample: {"run_id": "20261126T031000Z-4242", "owner": "rollback.yml by oncall", "at": 1764126600.0, "expires": 1764128400.0}
waited:
  description: Seconds spent waiting for another run's lock.
  returned: always
  type: float
  sample: 0.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesis.model_ops.plugins.module_utils._common import check_numbers, seconds
from ansible_collections.genesis.model_ops.plugins.module_utils._runlock import LockError, LockHeld, acquire, describe, release


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['acquired', 'released'], default='acquired'),
            run_id=dict(type='str', required=True),
            path=dict(type='path', default='/opt/genesis/run/model_ops.lock'),
            owner=dict(type='str', default=''),
            timeout=dict(type='raw', default=60),
            lease=dict(type='raw', default=1800),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params['run_id'].strip():
        module.fail_json(msg='run_id must not be empty')
    error = check_numbers(params, dict(timeout=seconds(), lease=seconds(above=True)))
    if error:
        module.fail_json(msg=error)
    path, run_id = params['path'], params['run_id']
    try:
        if params['state'] == 'released':
            changed, holder = release(path, run_id, module.check_mode)
            module.exit_json(changed=changed, path=path, holder=holder, waited=0.0)
        changed, holder, waited = acquire(path, run_id, params['owner'], params['lease'], params['timeout'], module.check_mode)
    except LockHeld as held:
        module.fail_json(msg='%s is held by another run: %s; waited %gs. Let that run finish, or remove %s if it is gone.'
                         % (path, describe(held.holder), held.waited, path), holder=held.holder, waited=held.waited, path=path)
    except LockError as exc:
        module.fail_json(msg=str(exc), path=path, holder=None, waited=0.0)
    module.exit_json(changed=changed, path=path, holder=holder, waited=waited)


if __name__ == '__main__':
    main()
