#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: model_health
short_description: Probe the health endpoint of Genesis orchestrator hosts
version_added: 0.1.0
description:
  - The runbook's I(Verify Scope) step. Reads C(GET /health) of a Genesis host and, for the agents named
    in O(agents), C(GET /health/<agent>), and turns what it finds into a service status, per-agent
    figures and a list of findings.
  - Without O(agents) the agents' details come from C(/health), which holds them all, so a probe costs one
    request; their C(http_status) in RV(agents) is then null. Naming agents costs one request more each and gives
    their real HTTP status, a C(404) for an agent the host does not know included.
  - Nothing that goes wrong on the wire or in the payload fails the module or raises a traceback. A refused
    connection, a timeout, a C(500) with an HTML page, a body that is not JSON, a payload without the fields
    are findings. Whether the task fails is O(fail_on)'s decision (and O(wait)'s).
  - By default it probes O(url), typically C(localhost) on the host the task runs on. With O(targets) it
    probes a whole fleet from wherever it runs (usually the controller, C(delegate_to) C(localhost) and
    C(run_once)), in threads, in one module run.
  - Needs only the Python standard library. Field expressions beyond plain paths need the C(jmespath)
    package where the module runs.
options:
  url:
    description:
      - Base URL of the host's health endpoint; C(/health) is appended.
      - A C(user:password@) in it (here or in O(targets)) is sent as Basic authentication; the password shows
        nowhere in the result, its messages or the task's arguments.
      - Not used when O(targets) is given.
    type: str
    default: http://localhost:8080
  targets:
    description:
      - Probe several hosts in one run, in parallel (see O(concurrency)).
      - The result then has RV(hosts) (one result per target, by name) and RV(summary) instead of the
        per-host keys at the top level.
    type: list
    elements: dict
    suboptions:
      name:
        description: The key of this host in RV(hosts), usually its C(inventory_hostname).
        type: str
        required: true
      url:
        description: Base URL of this host's health endpoint.
        type: str
        required: true
  concurrency:
    description: How many O(targets) are probed at once.
    type: raw
    default: 50
  agents:
    description:
      - The agents to check, each through C(GET /health/<agent>).
      - Default is every agent C(/health) reports, read from that one answer.
    type: list
    elements: str
  use_proxy:
    description: Use the proxy the environment names (C(http_proxy), C(no_proxy)...).
    type: bool
    default: true
  fail_on:
    description:
      - V(never) returns the findings and leaves the verdict to the play.
      - V(degraded) fails unless every probed host is healthy (RV(healthy)).
      - V(down) fails when a host's service or one of its selected agents is down, or its status is not
        known (V(unreachable), V(unknown)).
      - The full result comes back in either case.
    type: str
    choices: [never, degraded, down]
    default: never
  wait:
    description:
      - Probe again every O(wait_interval) seconds until healthy (every selected agent V(ok)), for use after
        a restart. Fails when a host is not healthy within O(wait_timeout) seconds, whatever O(fail_on) says.
      - With O(targets), each host is waited for on its own, in parallel.
    type: bool
    default: false
  baseline:
    description:
      - An earlier result of this module for the same host (before a change), for O(wait) to compare with.
        O(wait) then waits until the host is no worse than it was, rather than healthy, which a host that
        was degraded before a change may not become at once. RV(worse) lists what is still worse.
      - No worse means the service answers, with a status no worse than in the baseline; it reports at least one
        agent, and every agent the baseline had (an agent gone missing is worse); and no agent's status is worse
        than in the baseline (V(ok) < V(degraded) < V(down); an agent the baseline lacks counts as V(ok) before).
      - An agent that has served no request since the restart (C(requests) 0) has no figures to judge it by. It is
        judged by the service's own status for it (above) and by its model, which must be the one its configuration
        names (its C(finetuned_model) or C(baseline_model), the baseline when the loaded config turns fine-tuned
        models off or rolls out 0%); one that routes elsewhere is worse. If it routes to the model it served before
        the change, that is all; a quiet host is not put back for being quiet. If its model changed with the change,
        O(wait) waits for its first request until O(wait_timeout), then accepts it on its status and model, and
        lists it in RV(idle).
      - Only with O(wait) and O(url), not with O(targets).
    type: dict
  wait_timeout:
    description:
      - Seconds O(wait) waits at most, its probes included. A request still going at that time is cut short
        there and reported as a V(timeout). V(0) makes one probe, with its own O(timeout), and does not wait.
    type: raw
    default: 120
  wait_interval:
    description: Seconds between two probes while O(wait)ing.
    type: raw
    default: 2
  wait_started:
    description:
      - >-
        When the wait began, in seconds since the Unix epoch by the clock of the machine the module runs on;
        O(wait_timeout) counts from then. Defaults to the start of this call. For a task that waits in steps
        (O(wait_report_every)). On a host, take it from the host (M(genesis.model_ops.orchestrator_service)'s
        RV(genesis.model_ops.orchestrator_service#module:at)), not from the controller's C(now()), since a host's
        clock ahead of the controller's would end the wait early.
    type: raw
  wait_report_every:
    description:
      - With O(wait), return after about this many seconds when the host is not there yet and O(wait_timeout) has
        not passed, with RV(waiting) V(true) and in RV(msg) what it waits for, without failing; a task that repeats
        itself C(until) RV(waiting) is false (with O(wait_started) fixed) then prints a line at each step, which
        shows in a terminal and in AWX's job output alike, and waits no longer in all than O(wait_timeout).
      - V(0) waits to the end in one call.
    type: raw
    default: 0
extends_documentation_fragment:
  - genesis.model_ops.attributes
  - genesis.model_ops.attributes.read_only
  - genesis.model_ops.health_probe
notes:
  - Severities in findings are V(critical) (no usable answer, a service or agent down), V(warning) or V(info).
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Verify scope on every Genesis host (probes its own localhost)
  genesis.model_ops.model_health:
  register: health

- name: The whole fleet in one run from the controller, 50 hosts at a time
  genesis.model_ops.model_health:
    targets: "{{ fleet }}"
    fail_on: down
  vars:
    fleet: >-
      {%- set out = [] -%}
      {%- for host in ansible_play_hosts -%}
      {%- set _ = out.append({'name': host, 'url': hostvars[host].genesis_health_url | default('http://localhost:8080')}) -%}
      {%- endfor -%}
      {{ out }}
  delegate_to: localhost
  run_once: true
  register: fleet_health

- name: Check one agent, with its real HTTP status, and fail if it is down
  genesis.model_ops.model_health:
    url: "{{ genesis_health_url }}"
    agents: [qa_agent]
    fail_on: down

- name: After a restart, wait until every agent is ok, saying what it waits for every 10 seconds
  genesis.model_ops.model_health:
    wait: true
    wait_timeout: 120
    wait_started: "{{ restart.at }}"  # the host's clock, from genesis.model_ops.orchestrator_service
    wait_report_every: 10
  register: health
  until: not health.waiting
  retries: 20  # more than 120 / 10: the module itself ends the wait at wait_timeout
  delay: 0

- name: After a restart, wait until every agent is ok
  genesis.model_ops.model_health:
    wait: true
    wait_timeout: 180

- name: A site whose endpoint nests its figures
  genesis.model_ops.model_health:
    fields:
      status: health.state
      agents: health.agents
      error_rate: metrics."error-rate"
"""

RETURN = r"""
url:
  description: The base URL probed.
  returned: without O(targets)
  type: str
  sample: http://localhost:8080
status:
  description:
    - The service's status. V(ok), V(degraded), V(down) as the payload reports it, made worse by an agent
      below it (the contract's service is the worst of its agents) or above a threshold;
      V(unreachable) when no HTTP answer came; V(unknown) when the answer held no status to read.
  returned: without O(targets)
  type: str
  sample: degraded
healthy:
  description: Whether the service and every selected agent are V(ok) (what O(wait) waits for).
  returned: without O(targets)
  type: bool
  sample: false
http_status:
  description: HTTP status of C(GET /health); null when no answer came.
  returned: without O(targets)
  type: int
  sample: 200
latency_ms:
  description: Milliseconds C(GET /health) took.
  returned: without O(targets)
  type: float
  sample: 12.4
version:
  description: The service's version, as reported.
  returned: without O(targets)
  type: str
  sample: 1.4.2
started_at:
  description: When the service started, as reported.
  returned: without O(targets)
  type: str
  sample: "2025-10-31T12:00:00Z"
config:
  description: The config the service reports it loaded, as reported.
  returned: without O(targets)
  type: dict
  sample: {"path": "/opt/genesis/infrastructure/config/production.yaml", "use_finetuned": true, "rollout_percentage": 100}
agents:
  description: Per agent, by name. All the agents C(/health) reports, or those named in O(agents).
  returned: without O(targets)
  type: dict
  contains:
    status:
      description: V(ok), V(degraded), V(down) (made V(degraded) by a threshold), or V(unknown).
      type: str
    http_status:
      description: HTTP status of C(GET /health/<agent>); null when the agent's details came from C(/health).
      type: int
    model:
      description: The model its requests go to now.
      type: str
    finetuned_model:
      description: Its fine-tuned model id.
      type: str
    baseline_model:
      description: Its baseline model id.
      type: str
    requests:
      description: Requests in the service's window.
      type: int
    errors:
      description: Failed requests in the window.
      type: int
    fallbacks:
      description: Requests answered by the baseline after a fine-tuned failure.
      type: int
    error_rate:
      description: Errors per request, 0 to 1.
      type: float
    fallback_rate:
      description: Fallbacks per request, 0 to 1.
      type: float
    last_error:
      description: The last error in the window, C(at), C(status), C(message) (secrets masked), or null.
      type: dict
  sample:
    qa_agent:
      status: degraded
      http_status: null
      model: ft:open-mistral-7b:587a6b29:20240514:7e773925
      finetuned_model: ft:open-mistral-7b:587a6b29:20240514:7e773925
      baseline_model: open-mistral-7b
      requests: 1200
      errors: 90
      fallbacks: 10
      error_rate: 0.075
      fallback_rate: 0.0083
      last_error: {"at": "2025-10-31T12:03:00Z", "status": 429, "message": "Rate limit exceeded"}
findings:
  description:
    - What is wrong, one item each. C(code) is one of V(unreachable), V(timeout), V(http_error), V(not_json),
      V(missing_field), V(unknown_agent), V(service_down), V(agent_down), V(agent_degraded), V(error_rate_high),
      V(fallback_rate_high).
    - C(severity) is V(critical), V(warning) or V(info); C(agent) is the agent's name or null;
      C(evidence) holds the figures behind it (a body excerpt is masked and cut at 200 characters).
  returned: without O(targets)
  type: list
  elements: dict
  sample:
    - code: error_rate_high
      severity: warning
      agent: qa_agent
      message: "agent qa_agent: error_rate 0.075 is above 0.05"
      evidence: {"error_rate": 0.075, "threshold": 0.05, "requests": 1200, "errors": 90, "fallbacks": 10}
waiting:
  description:
    - With O(wait_report_every), whether this call returned before the end of the wait, the host (or, with
      O(targets), a host) not there yet and O(wait_timeout) not passed; RV(msg) then says what it waits for.
  returned: with O(wait)
  type: bool
  sample: false
msg:
  description: While RV(waiting), what the wait still waits for, per host, and how long it has waited.
  returned: when RV(waiting)
  type: str
  sample: "waiting 10s of 120s: qa_agent degraded (was ok)"
attempts:
  description: Probes made (more than 1 only with O(wait)).
  returned: without O(targets)
  type: int
  sample: 1
worse:
  description: With O(baseline), what was still worse than in the baseline at the last probe; empty when recovered.
  returned: with O(baseline)
  type: list
  elements: str
  sample: [legal_agent down (was ok), qa_agent missing (was ok)]
idle:
  description:
    - With O(baseline), the agents that had served no request on their new model by the last probe, accepted on the
      service's own status and their configured model (see O(baseline)).
  returned: with O(baseline)
  type: list
  elements: str
  sample: [qa_agent has served no request yet on open-mistral-7b (was on ft:open-mistral-7b:587a6b29:20240514:7e773925)]
hosts:
  description: With O(targets), the per-host result (every key above) by target name.
  returned: with O(targets)
  type: dict
  sample: {"genesis-001": {"status": "ok", "healthy": true, "http_status": 200, "findings": []}}
summary:
  description: With O(targets), counts over the hosts.
  returned: with O(targets)
  type: dict
  contains:
    hosts:
      description: Hosts probed.
      type: int
    healthy:
      description: Hosts healthy.
      type: int
    by_status:
      description: Hosts per status (V(ok), V(degraded), V(down), V(unreachable), V(unknown)).
      type: dict
    findings:
      description: Findings per code, over all hosts.
      type: dict
    unhealthy:
      description: Names of the hosts not healthy, sorted.
      type: list
      elements: str
  sample: {"hosts": 3, "healthy": 2, "by_status": {"ok": 2, "degraded": 0, "down": 0, "unreachable": 1, "unknown": 0},
           "findings": {"unreachable": 1}, "unhealthy": ["genesis-003"]}
"""


import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesis.model_ops.plugins.module_utils._common import Number, seconds
from ansible_collections.genesis.model_ops.plugins.module_utils._health import (
    HEALTH_PROBE_ARGUMENT_SPEC, HealthProbe, check_probe_options, fails, probe_targets, summarize, waiting_for)
from ansible_collections.genesis.model_ops.plugins.module_utils._jmespath_lite import ExpressionError

NUMBERS = dict(concurrency=Number(1, 1000, integer=True), wait_timeout=seconds(integer=True), wait_interval=seconds(above=True),
               wait_started=Number(0, 1e11, unit='seconds since the Unix epoch'), wait_report_every=seconds())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', default='http://localhost:8080'),
            targets=dict(type='list', elements='dict', options=dict(
                name=dict(type='str', required=True),
                url=dict(type='str', required=True),
            )),
            concurrency=dict(type='raw', default=50),
            agents=dict(type='list', elements='str'),
            use_proxy=dict(type='bool', default=True),
            fail_on=dict(type='str', default='never', choices=['never', 'degraded', 'down']),
            wait=dict(type='bool', default=False),
            wait_timeout=dict(type='raw', default=120),
            wait_interval=dict(type='raw', default=2),
            wait_started=dict(type='raw'),
            wait_report_every=dict(type='raw', default=0),
            baseline=dict(type='dict'),
            **HEALTH_PROBE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    params = module.params
    check_probe_options(module, NUMBERS, [params['url']] + [target['url'] for target in params['targets'] or ()])
    if params['agents'] is not None and not all(name and name.strip() for name in params['agents']):
        module.fail_json(msg='agents must be agent names, got %s' % params['agents'])
    if params['baseline'] is not None and (not params['wait'] or params['targets'] is not None):
        module.fail_json(msg='baseline is for wait=true with url, not %s' % (
            'targets' if params['targets'] is not None else 'wait=false'))
    names = [target['name'] for target in params['targets'] or ()]
    if len(set(names)) != len(names):
        module.fail_json(msg='targets: each name must be unique, got %s' % names)

    try:
        probe = HealthProbe(fields=params['fields'], agents=params['agents'], timeout=params['timeout'],
                            validate_certs=params['validate_certs'], use_proxy=params['use_proxy'],
                            error_rate_threshold=params['error_rate_threshold'],
                            fallback_rate_threshold=params['fallback_rate_threshold'])
    except ExpressionError as exc:
        module.fail_json(msg=str(exc))

    called = time.time()
    elapsed = max(0.0, called - params['wait_started']) if params['wait_started'] is not None else 0

    def check(url):
        if params['wait']:
            return probe.wait_healthy(url, params['wait_timeout'], params['wait_interval'], baseline=params['baseline'],
                                      elapsed=elapsed, report_every=params['wait_report_every'] or None)
        return dict(probe.probe(url), attempts=1)

    if params['targets'] is None:
        hosts = {params['url']: check(params['url'])}
        result = dict(hosts[params['url']], changed=False)
    else:
        hosts = probe_targets(check, params['targets'], params['concurrency'])
        result = dict(changed=False, hosts=hosts, summary=summarize(hosts))

    if params['wait']:
        pending = sorted(name for name, host in hosts.items() if host.pop('waiting', False))
        result.pop('waiting', None)
        result['waiting'] = bool(pending)
        if pending:
            # not there yet and the deadline ahead: say what is awaited; the task calls again (until: not waiting)
            what = '; '.join(('%s: ' % name if params['targets'] is not None else '') + waiting_for(hosts[name], params['baseline'])
                             for name in pending)
            result['msg'] = 'waiting %ds of %ss: %s' % (elapsed + time.time() - called, params['wait_timeout'], what)
            module.exit_json(**result)
    if params['wait'] and params['baseline'] is not None:
        worse = result['worse']
        if worse:
            module.fail_json(msg='worse than before after %ss: %s' % (params['wait_timeout'], '; '.join(worse)), **result)
    elif params['wait']:
        waiting = sorted(name for name, host in hosts.items() if not host['healthy'])
        if waiting:
            module.fail_json(msg='not healthy after %ss: %s' % (params['wait_timeout'], ', '.join(waiting)), **result)
    failing = sorted(name for name, host in hosts.items() if fails(host, params['fail_on']))
    if failing:
        module.fail_json(msg='fail_on=%s: %s' % (params['fail_on'], ', '.join(
            '%s is %s' % (name, hosts[name]['status']) for name in failing)), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
