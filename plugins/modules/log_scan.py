#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: log_scan
short_description: Count the runbook's error patterns in the Genesis model-call log
version_added: 0.1.0
description:
  - The runbook's I(Check Error Patterns) step, as data. Over the last O(lines) lines, or the last O(minutes)
    minutes, of every file matching O(path_glob), counts the lines of each category, case-insensitive, as
    the runbook's greps do
    (V(errors) C(error|exception|failed); V(rate_limit) C(rate limit|429|quota); V(auth) C(401|403|unauthorized);
    V(model_not_found) C(404|not found|invalid_model); V(server_error) a C(5xx) status).
  - Status codes match as whole numbers, not inside a timestamp's milliseconds, a decimal or an id, where
    a plain C(grep 401) would find them. V(rate limit) also matches C(rate_limit) and C(rate-limit);
    C(invalid_model) also matches C(invalid model), which is how the API's 400 message puts it.
  - Every line is matched on its text, whether or not it is in the host contract's format, as grep would, so
    another program's errors in the same file count. Lines not in the contract's format
    (C(<ISO timestamp> <LEVEL> key=value ...)) are counted in RV(unparsed_lines), and only contract lines
    feed RV(by_agent) and RV(by_status), which need their C(agent=) and C(status=) fields.
  - Bytes that are not UTF-8 are dropped from their line and counted in RV(undecodable_bytes). A missing
    log directory, no matching file, an unreadable file are findings, not failures.
  - Files are read from their end, block by block, and never more than O(max_bytes) of each.
  - Sample lines, agents and statuses have anything that looks like a credential masked as C(********), by the
    collection's one masking rule (C(Bearer ...), C(Basic ...), C(api_key=...), C(MISTRAL_API_KEY=...), passwords,
    C(dsn), C(auth), URL passwords, webhook URLs, 32 or more alphanumerics outside a C(ft:) model id; see the
    C(diff_mode) of M(genesis.model_ops.rollout_set)).
  - Needs only the Python standard library.
options:
  path_glob:
    description: The log files, a shell glob (C(~) is expanded). The contract's C(genesis_log_glob).
    type: str
    default: /opt/genesis/logs/finetuning/*.log
  lines:
    description:
      - Scan the last N lines of each file.
      - Default, when O(minutes) is not set, C(1000).
    type: raw
  minutes:
    description:
      - Scan the lines of the last M minutes, by the timestamp at the start of each line (without a zone,
        taken as UTC). Reading back from the end of a file stops at the first line older than that;
        a line without a timestamp (a traceback's continuation, say) is in the window when it comes after
        the last line older than the window.
      - A file last modified before the window is not read.
    type: raw
  samples:
    description: How many of the newest matching lines to return per category.
    type: raw
    default: 3
  max_bytes:
    description:
      - At most this many bytes are read from the end of each file, whatever the window; a
        V(window_truncated) finding says when that cut the window short.
    type: raw
    default: 67108864
extends_documentation_fragment:
  - genesis.model_ops.attributes
  - genesis.model_ops.attributes.read_only
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Error patterns in the last 1000 lines of each log file
  genesis.model_ops.log_scan:
    path_glob: "{{ genesis_log_glob }}"
  register: logs

- name: The last 15 minutes, five samples per category
  genesis.model_ops.log_scan:
    minutes: 15
    samples: 5
  register: logs

- name: Rate limiting seen?
  ansible.builtin.debug:
    msg: "{{ logs.counts.rate_limit }} rate-limited calls, last at {{ logs.last_seen.rate_limit }}"
  when: logs.counts.rate_limit > 0
"""

RETURN = r"""
path_glob:
  description: The glob scanned, C(~) expanded.
  returned: always
  type: str
  sample: /opt/genesis/logs/finetuning/*.log
files:
  description: The files that matched, by path, with the lines and bytes read from each.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/opt/genesis/logs/finetuning/model_calls.log", "lines_scanned": 1000, "bytes_read": 131072}]
window:
  description: The window scanned; C(since) is the start of a O(minutes) window, UTC.
  returned: always
  type: dict
  sample: {"lines": null, "minutes": 15, "since": "2025-10-31T11:48:00.000Z"}
lines_scanned:
  description: Lines scanned, all files together (empty lines not counted).
  returned: always
  type: int
  sample: 1000
unparsed_lines:
  description: Of those, lines not in the host contract's format (still counted in RV(counts)).
  returned: always
  type: int
  sample: 12
undecodable_bytes:
  description: Bytes dropped because they were not UTF-8.
  returned: always
  type: int
  sample: 0
counts:
  description: Lines per category.
  returned: always
  type: dict
  sample: {"errors": 42, "rate_limit": 40, "auth": 0, "model_not_found": 0, "server_error": 0}
by_agent:
  description: Per C(agent=) value of contract lines, its lines and its lines per category.
  returned: always
  type: dict
  sample: {"qa_agent": {"lines": 500, "errors": 40, "rate_limit": 40, "auth": 0, "model_not_found": 0, "server_error": 0}}
by_status:
  description: Contract lines per C(status=) value.
  returned: always
  type: dict
  sample: {"200": 958, "429": 40}
samples:
  description:
    - Per category, the newest matching lines (at most O(samples)), oldest first, each with its file.
    - Credentials are masked and a line is cut at 500 characters.
  returned: always
  type: dict
  sample:
    rate_limit:
      - file: /opt/genesis/logs/finetuning/model_calls.log
        line: '2025-10-31T12:03:00.123Z ERROR agent=qa_agent model=ft:open-mistral-7b:587a6b29:20240514:7e773925 status=429 error="Rate limit exceeded"'
first_seen:
  description: Per category, the earliest timestamp of a matching line in the window (UTC), or null.
  returned: always
  type: dict
  sample: {"errors": "2025-10-31T12:01:10.000Z", "rate_limit": "2025-10-31T12:01:10.000Z", "auth": null,
           "model_not_found": null, "server_error": null}
last_seen:
  description: Per category, the latest timestamp of a matching line in the window (UTC), or null.
  returned: always
  type: dict
  sample: {"errors": "2025-10-31T12:03:00.123Z", "rate_limit": "2025-10-31T12:03:00.123Z", "auth": null,
           "model_not_found": null, "server_error": null}
by_agent_seen:
  description:
    - Per C(agent=) value of contract lines, per category it has lines of, the timestamps of the earliest
      (C(first)) and the latest (C(last)) such line in the window (UTC). How old an agent's errors are, which
      the diagnosis weighs against the service's start and the agent's last healthy report.
  returned: always
  type: dict
  sample: {"qa_agent": {"errors": {"first": "2025-10-31T12:01:10.000Z", "last": "2025-10-31T12:03:00.123Z"},
                        "rate_limit": {"first": "2025-10-31T12:01:10.000Z", "last": "2025-10-31T12:03:00.123Z"}}}
by_agent_minute:
  description:
    - >-
      Per C(agent=) value of contract lines with a timestamp, a row per minute that has lines, oldest first, each a
      list of the minute in UTC, the lines, the error lines (C(error|exception|failed)) and the fallback lines
      (C(fallback=true)). The figures of the diagnosis report's charts when no Prometheus answers.
  returned: always
  type: dict
  sample: {"qa_agent": [["2025-10-31T12:02:00.000Z", 30, 2, 2], ["2025-10-31T12:03:00.000Z", 31, 9, 9]]}
findings:
  description:
    - What kept the scan from being complete, each with C(code), C(severity), C(agent) (null), C(message),
      C(evidence). Codes V(log_dir_missing), V(no_log_files), V(unreadable_file) (warnings) and
      V(window_truncated) (info).
  returned: always
  type: list
  elements: dict
  sample: [{"code": "no_log_files", "severity": "warning", "agent": null, "message": "no file matches /opt/genesis/logs/finetuning/*.log",
            "evidence": {"path_glob": "/opt/genesis/logs/finetuning/*.log"}}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.genesis.model_ops.plugins.module_utils._common import MAX_SECONDS, Number, check_numbers
from ansible_collections.genesis.model_ops.plugins.module_utils._logscan import DEFAULT_GLOB, scan

NUMBERS = dict(lines=Number(1, 10 ** 9, integer=True), minutes=Number(0, MAX_SECONDS // 60, above=True, unit='minutes'),
               samples=Number(0, 1000, integer=True), max_bytes=Number(1, 2 ** 40, integer=True))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path_glob=dict(type='str', default=DEFAULT_GLOB),
            lines=dict(type='raw'),
            minutes=dict(type='raw'),
            samples=dict(type='raw', default=3),
            max_bytes=dict(type='raw', default=67108864),
        ),
        mutually_exclusive=[('lines', 'minutes')],
        supports_check_mode=True,
    )
    params = module.params
    error = check_numbers(params, NUMBERS)
    if error:
        module.fail_json(msg=error)
    module.exit_json(**scan(params['path_glob'], lines=params['lines'], minutes=params['minutes'],
                            samples=params['samples'], max_bytes=params['max_bytes']))


if __name__ == '__main__':
    main()
