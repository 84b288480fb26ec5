#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: prometheus_query
short_description: Run one PromQL instant query, the runbook's error rate by default
version_added: 0.1.0
description:
  - The runbook's C(curl http://localhost:9090/api/v1/query?query=rate(model_errors[5m])), as data. Sends one
    instant query to C(/api/v1/query) of O(url) and returns its samples, and for samples labelled C(instance) and
    C(agent) a table of their values (RV(by_label)).
  - Unlike M(ansible.builtin.uri), it runs in check mode, so a diagnosis reads the error rate in an AWX
    I(Check) job too.
  - Prometheus is supporting evidence, so nothing that goes wrong with it fails the module. No connection, a
    timeout, an error answer (a bad query), a body that is not JSON are findings.
  - An empty O(url) means the site has no Prometheus (host contract, section 9). The module then calls nothing
    and returns RV(skipped).
  - Needs only the Python standard library. Usually run on the controller (C(delegate_to) C(localhost),
    C(run_once)).
options:
  url:
    description: The Prometheus base URL, the contract's C(genesis_prometheus_url). Empty to skip the query.
    type: str
    default: http://localhost:9090
  query:
    description:
      - The PromQL expression, evaluated at the current time.
      - The default is the runbook's error rate, per host (C(instance)) and agent, errors per second over 5 minutes.
    type: str
    default: sum by (instance, agent) (rate(model_errors_total[5m]))
  timeout:
    description:
      - Seconds the query may take in all, connecting, the headers and the whole body. A Prometheus that answers
        slowly, a byte at a time, is cut off then, as one that does not answer.
    type: raw
    default: 10
  validate_certs:
    description: Verify the TLS certificate of an C(https) O(url).
    type: bool
    default: true
  chart_minutes:
    description:
      - Also read, for the diagnosis report's charts, each host's (C(instance)) and agent's errors and fallbacks per
        minute over the last so many minutes (C(60 * rate(model_errors_total[1m])) and the same of
        C(model_fallbacks_total), one range query of C(/api/v1/query_range), a point a minute), in RV(chart).
        V(0) does not.
    type: raw
    default: 0
extends_documentation_fragment:
  - genesis.model_ops.attributes
  - genesis.model_ops.attributes.read_only
notes:
  - A value that is not a finite number (C(NaN), C(+Inf)) is returned as null, since JSON has no way to say it.
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: The error rate per host and agent, as the runbook reads it
  genesis.model_ops.prometheus_query:
    url: "{{ genesis_prometheus_url | default('http://localhost:9090') }}"
  delegate_to: localhost
  run_once: true
  register: error_rate

- name: Hosts with an agent erring more than once a second
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value }}"
  loop: "{{ error_rate.by_label | dict2items }}"
  when: item.value.values() | select('ne', None) | max > 1

- name: Fallbacks per agent over the fleet
  genesis.model_ops.prometheus_query:
    url: http://prometheus.example.com:9090
    query: sum by (agent) (rate(model_fallbacks_total[5m]))
  delegate_to: localhost
  run_once: true
  register: fallbacks
"""

RETURN = r"""
url:
  description: The Prometheus base URL.
  returned: always
  type: str
  sample: http://localhost:9090
query:
  description: The query sent.
  returned: always
  type: str
  sample: sum by (instance, agent) (rate(model_errors_total[5m]))
skipped:
  description:
    - True when O(url) is empty and nothing was called; Ansible then shows the task as skipped, and every other key
      is still in the registered result (RV(available) false, no samples).
  returned: always
  type: bool
  sample: false
available:
  description: Whether Prometheus answered the query with data (status V(success)); false with every finding.
  returned: always
  type: bool
  sample: true
http_status:
  description: The HTTP status of the answer; null when none came.
  returned: always
  type: int
  sample: 200
status:
  description: The answer's C(status), V(success) or V(error); null when there was no Prometheus answer.
  returned: always
  type: str
  sample: success
result_type:
  description: The answer's C(resultType), V(vector), V(matrix), V(scalar) or V(string); null without data.
  returned: always
  type: str
  sample: vector
samples:
  description:
    - One per series, its C(labels) and its C(value) as a float (null when not a finite number). A V(scalar) gives one
      sample without labels; a V(matrix) the last point of each series; a V(string) none.
  returned: always
  type: list
  elements: dict
  sample: [{"labels": {"instance": "genesis-001", "agent": "qa_agent"}, "value": 0.35}]
by_label:
  description:
    - The values of the samples that have both an C(instance) and an C(agent) label, by instance, then by agent.
      Samples of the same pair (a query that keeps other labels) are added up.
    - A counter that never moved has no series, so with the default query a host or agent without errors since the
      service started is absent rather than 0.
  returned: always
  type: dict
  sample: {"genesis-001": {"qa_agent": 0.35, "support_agent": 0.0}}
chart:
  description:
    - With O(chart_minutes), by instance, then by agent, a row a minute, oldest first, each a list of the time in UTC,
      the errors per minute and the fallbacks per minute (null where a series has no point). Null without
      O(chart_minutes), or when the range query got no answer (a V(chart_unavailable) finding of severity V(info)
      then says why).
  returned: always
  type: dict
  sample: {"genesis-001": {"qa_agent": [["2025-10-31T12:02:00.000Z", 0.0, 0.0], ["2025-10-31T12:03:00.000Z", 12.0, 12.0]]}}
prometheus_warnings:
  description: The warnings Prometheus returned with its answer (its C(warnings)), as they are.
  returned: always
  type: list
  elements: str
  sample: []
findings:
  description:
    - What kept the query from an answer, each with C(code), C(severity) (V(warning)), C(agent) (null), C(message),
      C(evidence). Codes V(prometheus_unreachable), V(timeout), V(not_json) (with a masked body excerpt), and
      V(prometheus_error) (an error answer, with its C(error_type) and C(error); C(error_type) V(bad_response) for
      JSON that is not a Prometheus answer); V(chart_unavailable) (info) when only the charts' range query failed.
  returned: always
  type: list
  elements: dict
  sample:
    - code: prometheus_error
      severity: warning
      agent: null
      message: "http://localhost:9090: bad_data: invalid parameter \"query\": 1:6: parse error: unexpected right parenthesis ')'"
      evidence: {"url": "http://localhost:9090", "http_status": 400, "error_type": "bad_data",
                 "error": "invalid parameter \"query\": 1:6: parse error: unexpected right parenthesis ')'"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesis.model_ops.plugins.module_utils._common import Number, check_numbers, mask, seconds
from ansible_collections.genesis.model_ops.plugins.module_utils._http import hide_passwords
from ansible_collections.genesis.model_ops.plugins.module_utils._prometheus import DEFAULT_QUERY, DEFAULT_URL, query


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', default=DEFAULT_URL),
            query=dict(type='str', default=DEFAULT_QUERY),
            timeout=dict(type='raw', default=10),
            validate_certs=dict(type='bool', default=True),
            chart_minutes=dict(type='raw', default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    hide_passwords(module, [params['url']])
    error = check_numbers(params, dict(timeout=seconds(above=True), chart_minutes=Number(0, 1440, integer=True, unit='minutes')))
    if error:
        module.fail_json(msg=error)
    if params['url'] and not params['url'].startswith(('http://', 'https://')):
        module.fail_json(msg='url must be an http:// or https:// URL, or empty to skip Prometheus, got %s' % mask(params['url']))
    if params['url'] and not (params['query'] or '').strip():
        module.fail_json(msg='query must be a PromQL expression, got %r' % params['query'])
    module.exit_json(**query(params['url'], params['query'], timeout=params['timeout'],
                             validate_certs=params['validate_certs'], chart_minutes=params['chart_minutes']))


if __name__ == '__main__':
    main()
