#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_evidence
short_description: Gather in one run everything a diagnosis needs from a Genesis host
version_added: 0.1.0
description:
  - The per-host half of the runbook's I(Verify Scope) and I(Diagnostic Steps) in one module run, so that a
    diagnosis costs one task per host.
  - RV(health) is the health endpoint as M(genesis.model_ops.model_health) reads it (skipped with O(health=false),
    for a play that probes the fleet from the controller instead).
  - RV(logs) is the model-call log of the last O(log_minutes) minutes as M(genesis.model_ops.log_scan) reads it
    (skipped with O(logs=false)).
  - RV(config) is the C(models:) section of C(production.yaml); RV(service) what the service's pid file tells
    (the contract's process mode); RV(key) whether the env file sets C(MISTRAL_API_KEY), the key's fingerprint and
    the file's mode. The key itself never leaves the module.
  - RV(recent_changes) is what changed in the last O(recent_s) seconds, the config file, a service (re)start and
    the entries of the collection's audit log.
  - Every part's findings are also in RV(findings), each tagged with its C(source).
  - Nothing the host can be in fails the module. A missing, unreadable or malformed file, a dead pid, a health
    endpoint that does not answer are findings. Only bad options fail it.
  - Needs the Python standard library and PyYAML on the host. Health field expressions beyond plain paths
    need the C(jmespath) package there.
options:
  app_root:
    description: The app root on the host; the other paths default to the contract's layout under it.
    type: path
    default: /opt/genesis
  config_path:
    description: The runtime config. Default C(<app_root>/infrastructure/config/production.yaml).
    type: path
  log_glob:
    description: The model-call log files, a shell glob. Default C(<app_root>/logs/finetuning/*.log).
    type: str
  pid_file:
    description: The service's pid file (process mode). Default C(<app_root>/run/genesis-orchestrator.pid).
    type: path
  env_file:
    description: The service's environment file, holding C(MISTRAL_API_KEY=...).
    type: path
    default: /etc/genesis/genesis.env
  audit_log:
    description:
      - The collection's audit log on the host, one JSON object per line with an C(at) (an ISO-8601 time, or
        seconds since the epoch) and the change's details.
      - Default C(<app_root>/logs/model_ops_audit.jsonl). A missing file is no finding.
    type: path
  health:
    description: Probe O(health_url). V(false) leaves RV(health) null (for a play that probes from the controller).
    type: bool
    default: true
  health_url:
    description: Base URL of the host's health endpoint; C(/health) is appended.
    type: str
    default: http://localhost:8080
  logs:
    description: Scan the model-call log. V(false) leaves RV(logs) null.
    type: bool
    default: true
  log_minutes:
    description: Scan the log lines of the last this many minutes.
    type: raw
    default: 15
  recent_s:
    description: What changed within this many seconds counts as a recent change.
    type: raw
    default: 3600
extends_documentation_fragment:
  - genesis.model_ops.attributes
  - genesis.model_ops.attributes.read_only
  - genesis.model_ops.health_probe
notes:
  - The service part reads C(/proc), so it needs Linux. Under systemd, which keeps no pid file, it has nothing
    to read and says so with an V(info) finding.
  - Severities in findings are V(critical), V(warning) or V(info).
seealso:
  - module: genesis.model_ops.model_health
  - module: genesis.model_ops.log_scan
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Everything the diagnosis needs from each host, in one task
  genesis.model_ops.host_evidence:
    app_root: "{{ genesis_app_root | default('/opt/genesis') }}"
    env_file: "{{ genesis_env_file | default('/etc/genesis/genesis.env') }}"
    health_url: "{{ genesis_health_url | default('http://localhost:8080') }}"
  register: evidence

- name: Fast mode, the fleet's health is probed from the controller in one run
  genesis.model_ops.host_evidence:
    health: false
    log_minutes: 5
  register: evidence

- name: Which hosts run with another key than the vault's?
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} uses key {{ evidence.key.fingerprint }}"
  when: evidence.key.fingerprint != (mistral_api_key | hash('sha256'))[:8]
"""

RETURN = r"""
collected_at:
  description: When the evidence was gathered, UTC.
  returned: always
  type: str
  sample: "2025-10-31T12:05:00Z"
config_path:
  description: The config file read.
  returned: always
  type: str
  sample: /opt/genesis/infrastructure/config/production.yaml
log_glob:
  description: The log files scanned.
  returned: always
  type: str
  sample: /opt/genesis/logs/finetuning/*.log
pid_file:
  description: The pid file read.
  returned: always
  type: str
  sample: /opt/genesis/run/genesis-orchestrator.pid
audit_log:
  description: The audit log read.
  returned: always
  type: str
  sample: /opt/genesis/logs/model_ops_audit.jsonl
env_file:
  description: The env file read.
  returned: always
  type: str
  sample: /etc/genesis/genesis.env
health:
  description:
    - What M(genesis.model_ops.model_health) returns for O(health_url) (C(url), C(status), C(healthy),
      C(http_status), C(latency_ms), C(version), C(started_at), C(config), C(agents), C(findings), C(attempts)).
    - Null with O(health=false).
  returned: always
  type: dict
  sample: {"url": "http://localhost:8080", "status": "ok", "healthy": true, "http_status": 200, "latency_ms": 3.1,
           "version": "1.4.2", "started_at": "2025-10-31T12:00:00Z", "config": {}, "agents": {}, "findings": [], "attempts": 1}
logs:
  description:
    - What M(genesis.model_ops.log_scan) returns for O(log_glob) over the last O(log_minutes) minutes (C(files), C(window),
      C(lines_scanned), C(unparsed_lines), C(undecodable_bytes), C(counts), C(by_agent), C(by_status), C(samples),
      C(first_seen), C(last_seen), C(by_agent_seen), C(by_agent_minute), C(findings)).
    - Null with O(logs=false).
  returned: always
  type: dict
  sample: {"counts": {"errors": 42, "rate_limit": 40, "auth": 0, "model_not_found": 0, "server_error": 0}, "findings": []}
config:
  description: The C(models:) section of the config file, normalised (host contract, section 3).
  returned: always
  type: dict
  contains:
    path:
      description: The file.
      type: str
    exists:
      description: Whether the file exists.
      type: bool
    mtime:
      description: When the file was last modified, UTC; null when it does not exist.
      type: str
    age_s:
      description: Seconds since then.
      type: float
    use_finetuned:
      description: The global switch; null when missing or not a boolean (a V(config_invalid) finding).
      type: bool
    rollout_percentage:
      description: The rollout percentage, 0 to 100; null when missing or invalid.
      type: int
    agents:
      description:
        - Per agent, its C(finetuned) and C(baseline) model ids and C(use_finetuned), its own override (true when
          the file does not set it). Whether its requests go to the fine-tuned model also takes the global switch
          and the rollout.
      type: dict
    error:
      description: Why the section could not be read in full, or null.
      type: str
  sample:
    path: /opt/genesis/infrastructure/config/production.yaml
    exists: true
    mtime: "2025-10-31T11:50:02Z"
    age_s: 898.2
    use_finetuned: true
    rollout_percentage: 100
    agents:
      qa_agent: {"finetuned": "ft:open-mistral-7b:587a6b29:20240514:7e773925", "baseline": "open-mistral-7b", "use_finetuned": true}
    error: null
service:
  description: The service as its pid file tells (process mode, host contract section 2).
  returned: always
  type: dict
  contains:
    pid_file:
      description: The pid file.
      type: str
    pid:
      description: The pid it holds; null when there is no pid file or it holds no pid.
      type: int
    running:
      description: Whether that process is alive and not a zombie; null when there is no pid file to tell.
      type: bool
    pid_file_mtime:
      description: When the pid file was written, UTC.
      type: str
    started_at:
      description: When the process started (from C(/proc)), or else when the pid file was written, UTC.
      type: str
    age_s:
      description: Seconds since C(started_at).
      type: float
  sample: {"pid_file": "/opt/genesis/run/genesis-orchestrator.pid", "pid": 4242, "running": true,
           "pid_file_mtime": "2025-10-31T12:00:00Z", "started_at": "2025-10-31T12:00:00Z", "age_s": 300.0}
key:
  description: The API key in the env file, identified, never shown.
  returned: always
  type: dict
  contains:
    path:
      description: The env file.
      type: str
    present:
      description: Whether it sets a non-empty C(MISTRAL_API_KEY); null when it cannot be read.
      type: bool
    fingerprint:
      description: The first 8 hex digits of the key's SHA-256, or null.
      type: str
    mode:
      description: The file's permission bits, in octal; null when it cannot be read.
      type: str
    error:
      description: Why the file could not be read, or null.
      type: str
  sample: {"path": "/etc/genesis/genesis.env", "present": true, "fingerprint": "3f2a9c1d", "mode": "0600", "error": null}
recent_changes:
  description:
    - What changed within O(recent_s) seconds, oldest first. C(code) is V(config_modified), V(service_restarted)
      or V(audited_change) (an audit log entry, as C(detail) without its C(at)); C(at) is UTC.
  returned: always
  type: list
  elements: dict
  sample:
    - {"code": "audited_change", "at": "2025-10-31T11:50:02Z", "detail": {"module": "rollout_set", "key": "models.rollout_percentage",
                                                                         "before": 100, "after": 10}}
    - {"code": "config_modified", "at": "2025-10-31T11:50:02Z", "detail": {"path": "/opt/genesis/infrastructure/config/production.yaml"}}
    - {"code": "service_restarted", "at": "2025-10-31T11:50:10Z", "detail": {"pid": 4242, "running": true}}
findings:
  description:
    - Every part's findings, each with C(code), C(severity), C(agent), C(message), C(evidence) and C(source), one of
      V(health), V(logs), V(config), V(service), V(key), V(changes).
    - V(health) and V(logs) codes are those of M(genesis.model_ops.model_health) and M(genesis.model_ops.log_scan).
    - V(config) V(config_missing), V(config_unreadable), V(config_invalid); V(service) V(stale_pid_file),
      V(pid_file_unreadable), V(pid_file_missing) (info); V(key) V(env_file_missing), V(env_file_unreadable),
      V(env_file_mode), V(api_key_missing); V(changes) one V(info) per recent change (its code), V(config_not_applied)
      (the config changed after the running service started), V(audit_log_unreadable), V(audit_log_bad_lines),
      V(audit_log_truncated).
  returned: always
  type: list
  elements: dict
  sample:
    - code: stale_pid_file
      severity: critical
      agent: null
      message: "/opt/genesis/run/genesis-orchestrator.pid names pid 4242, which is not running: the service is not running"
      evidence: {"pid_file": "/opt/genesis/run/genesis-orchestrator.pid", "pid": 4242, "pid_file_mtime": "2025-10-31T12:00:00Z"}
      source: service
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.genesis.model_ops.plugins.module_utils._common import MAX_SECONDS, Number, seconds
from ansible_collections.genesis.model_ops.plugins.module_utils._evidence import (
    DEFAULT_APP_ROOT, DEFAULT_ENV_FILE, HAS_YAML, collect, derived_paths)
from ansible_collections.genesis.model_ops.plugins.module_utils._health import (
    HEALTH_PROBE_ARGUMENT_SPEC, HealthProbe, check_probe_options)
from ansible_collections.genesis.model_ops.plugins.module_utils._jmespath_lite import ExpressionError

NUMBERS = dict(log_minutes=Number(0, MAX_SECONDS // 60, above=True, unit='minutes'), recent_s=seconds(integer=True))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_root=dict(type='path', default=DEFAULT_APP_ROOT),
            config_path=dict(type='path'),
            log_glob=dict(type='str'),
            pid_file=dict(type='path'),
            env_file=dict(type='path', default=DEFAULT_ENV_FILE),
            audit_log=dict(type='path'),
            health=dict(type='bool', default=True),
            health_url=dict(type='str', default='http://localhost:8080'),
            logs=dict(type='bool', default=True),
            log_minutes=dict(type='raw', default=15),
            recent_s=dict(type='raw', default=3600),
            **HEALTH_PROBE_ARGUMENT_SPEC
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'))
    check_probe_options(module, NUMBERS, [params['health_url']])

    probe = None
    if params['health']:
        try:
            probe = HealthProbe(fields=params['fields'], timeout=params['timeout'], validate_certs=params['validate_certs'],
                                error_rate_threshold=params['error_rate_threshold'],
                                fallback_rate_threshold=params['fallback_rate_threshold'])
        except ExpressionError as exc:
            module.fail_json(msg=str(exc))

    paths = derived_paths(params['app_root'], params['config_path'], params['log_glob'], params['pid_file'],
                          params['audit_log'])
    result, key = collect(paths, params['env_file'], probe=probe, health_url=params['health_url'],
                          log_minutes=params['log_minutes'] if params['logs'] else None, recent_s=params['recent_s'])
    if key:
        module.no_log_values.add(key)  # belt and braces: the key is never put in the result
    module.exit_json(**result)


if __name__ == '__main__':
    main()
