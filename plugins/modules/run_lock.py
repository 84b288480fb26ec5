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

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesis.model_ops.plugins.module_utils._runlock import held_by_other, read, write


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
    for name in ('timeout', 'lease'):
        if params[name] < 0 or (name == 'lease' and params[name] == 0):
            module.fail_json(msg='%s=%s is not allowed: give a number of seconds above 0' % (name, params[name]))
    path, run_id = params['path'], params['run_id']
    result = dict(changed=False, path=path, holder=None, waited=0.0)

    if params['state'] == 'released':
        holder = read(path)
        result['holder'] = holder
        if holder and holder.get('run_id') == run_id:
            result['changed'] = True
            if not module.check_mode:
                os.unlink(path)
                result['holder'] = None
        module.exit_json(**result)

    started = time.monotonic()
    while True:
        now = time.time()
        holder = read(path)
        if not held_by_other(holder, run_id, now):
            mine = bool(holder) and holder.get('run_id') == run_id
            content = dict(run_id=run_id, owner=params['owner'] or (holder or {}).get('owner', '') if mine else params['owner'],
                           at=holder['at'] if mine else now, expires=now + params['lease'])
            if module.check_mode:
                result.update(changed=holder == {} or (holder or {}).get('run_id') != run_id, holder=holder or None)
                break
            # a lease that ran out is taken over by replacing the file; a free host by creating it, first come first served
            if write(path, content, exclusive=holder == {}):
                result.update(changed=not mine, holder=content)
                break
            continue
        if time.monotonic() - started >= params['timeout']:
            who = 'a lock file that cannot be read'
            if holder:
                who = 'run %s (%s), since %s, until %s' % (
                    holder.get('run_id'), holder.get('owner') or 'no owner given',
                    time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(float(holder.get('at') or 0))),
                    time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(float(holder.get('expires') or 0))))
            module.fail_json(msg='%s is held by another run: %s; waited %gs. Let that run finish, or remove %s if it is '
                             'gone.' % (path, who, params['timeout'], path), holder=holder, waited=params['timeout'], path=path)
        time.sleep(0.5)
    result['waited'] = round(time.monotonic() - started, 1)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
