# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Everything a diagnosis needs from one Genesis host, gathered in one module run.

``diagnose.yml`` may spend one task per host: Ansible's per-task cost times a fleet
is the time budget. So this reads the health endpoint (``_health``), the model-call
log (``_logscan``), ``production.yaml``, the pid file, the env file and the
collection's audit log in one go, and turns each into data plus findings.

Standard library and PyYAML only: this runs on Genesis hosts. Read-only. Nothing
a host can be in (a file missing, unreadable or malformed, a dead pid) raises: it
is a finding. The API key is read to be fingerprinted and never returned.

Public API: ``collect(...)`` returns ``(result, key)``; the caller must hide ``key``
(``module.no_log_values``). The part readers (``read_config``, ``read_service``,
``read_key``, ``recent_changes``) are public for tests.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
import time

from ansible_collections.genesis.model_ops.plugins.module_utils._common import (
    env_assignment, finding, fingerprint, parse_percentage)
from ansible_collections.genesis.model_ops.plugins.module_utils._logscan import TailReader, parse_timestamp, scan

try:
    import yaml
    _LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)  # libyaml's where PyYAML has it: the same data, faster
    HAS_YAML = True
except ImportError:
    HAS_YAML = False

DEFAULT_APP_ROOT = '/opt/genesis'
DEFAULT_ENV_FILE = '/etc/genesis/genesis.env'
KEY_NAME = 'MISTRAL_API_KEY'
# An hour of audit entries is a few KiB; the cap only guards against a runaway file.
AUDIT_MAX_BYTES = 4 * 1024 * 1024
START_SLACK_S = 2


def derived_paths(app_root, config_path=None, log_glob=None, pid_file=None, audit_log=None):
    """The contract's paths under app_root (section 9), for those not given."""
    return {
        'config_path': config_path or os.path.join(app_root, 'infrastructure/config/production.yaml'),
        'log_glob': log_glob or os.path.join(app_root, 'logs/finetuning/*.log'),
        'pid_file': pid_file or os.path.join(app_root, 'run/genesis-orchestrator.pid'),
        'audit_log': audit_log or os.path.join(app_root, 'logs/model_ops_audit.jsonl'),
    }


def iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _age(epoch, now):
    return round(now - epoch, 1)


def _reason(exc):
    return exc.strerror or str(exc)


def _yaml_problem(exc):
    """PyYAML's problem and where, without the file's lines it quotes: a site's line may hold a secret."""
    problem = getattr(exc, 'problem', None) or type(exc).__name__
    mark = getattr(exc, 'problem_mark', None)
    return '%s (line %d, column %d)' % (problem, mark.line + 1, mark.column + 1) if mark else problem


# --- production.yaml ----------------------------------------------------------------------

def read_config(path, now):
    """(config, findings): the contract's models: section of path, normalised."""
    config = {'path': path, 'exists': False, 'mtime': None, 'age_s': None, 'use_finetuned': None,
              'rollout_percentage': None, 'agents': {}, 'error': None}
    findings = []

    def invalid(message, severity='critical', **evidence):
        config['error'] = config['error'] or message
        findings.append(finding('config_invalid', severity, '%s: %s' % (path, message), path=path, **evidence))

    try:
        st = os.stat(path)
    except FileNotFoundError:
        config['error'] = 'does not exist'
        findings.append(finding('config_missing', 'critical', '%s does not exist' % path, path=path))
        return config, findings
    except OSError as exc:
        config['error'] = 'cannot stat: %s' % _reason(exc)
        findings.append(finding('config_unreadable', 'warning', 'cannot read %s: %s' % (path, _reason(exc)), path=path))
        return config, findings
    config.update(exists=True, mtime=iso(st.st_mtime), age_s=_age(st.st_mtime, now))
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except OSError as exc:
        # Most likely the task's user, not the service's: not a fault of the config itself.
        config['error'] = 'cannot read: %s' % _reason(exc)
        findings.append(finding('config_unreadable', 'warning', 'cannot read %s: %s' % (path, _reason(exc)), path=path))
        return config, findings
    try:
        try:
            doc = yaml.load(data, Loader=_LOADER)
        except yaml.YAMLError:  # the pure Python loader's message: the same on every host, with or without libyaml
            doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        invalid('not valid YAML: %s' % _yaml_problem(exc))
        return config, findings
    except RecursionError:
        invalid('not valid YAML: nested deeper than can be read')
        return config, findings

    models = doc.get('models') if isinstance(doc, dict) else None
    if not isinstance(models, dict):
        invalid('no models: mapping (host contract, section 3)' if models is None else 'models: is not a mapping')
        return config, findings

    use_finetuned = models.get('use_finetuned')
    if isinstance(use_finetuned, bool):
        config['use_finetuned'] = use_finetuned
    else:
        invalid('models.use_finetuned is %r, expected true or false' % (use_finetuned,), 'warning', field='models.use_finetuned')
    try:
        config['rollout_percentage'] = parse_percentage(models.get('rollout_percentage'))
    except ValueError as exc:
        invalid('models.rollout_percentage: %s' % exc, 'warning', field='models.rollout_percentage')

    agents = models.get('agents')
    if not isinstance(agents, dict) or not agents:
        invalid('models.agents is %r, expected a mapping of agents' % (agents,), field='models.agents')
        return config, findings
    for name, entry in agents.items():
        name = str(name)
        where = 'models.agents.%s' % name
        if not isinstance(entry, dict):
            invalid('%s is %r, expected a mapping' % (where, entry), 'warning', field=where)
            continue
        agent = {}
        for key in ('finetuned', 'baseline'):
            value = entry.get(key)
            agent[key] = value if isinstance(value, str) and value else None
            if agent[key] is None:
                invalid('%s.%s is %r, expected a model id' % (where, key, value), 'warning', field='%s.%s' % (where, key))
        # The per-agent override: absent means true (contract, section 3).
        value = entry.get('use_finetuned', True)
        agent['use_finetuned'] = value if isinstance(value, bool) else None
        if agent['use_finetuned'] is None:
            invalid('%s.use_finetuned is %r, expected true or false' % (where, value), 'warning',
                    field='%s.use_finetuned' % where)
        config['agents'][name] = agent
    return config, findings


# --- the service's pid file -----------------------------------------------------------------

def _proc_stat(pid):
    """(state, start ticks since boot) of a process from /proc/<pid>/stat, or None when it does not exist."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as handle:
            data = handle.read().decode('ascii', 'replace')
    except OSError:
        return None
    # The command name (2nd field) may hold spaces and parentheses: the fields after it start past the last ')'.
    fields = data.rsplit(')', 1)[-1].split()
    return fields[0], int(fields[19])


def _boot_time():
    with open('/proc/stat', 'rb') as handle:
        for line in handle:
            if line.startswith(b'btime '):
                return int(line.split()[1])
    raise OSError('no btime in /proc/stat')


def read_service(pid_file, now):
    """(service, findings) from the process-mode pid file (contract, section 2)."""
    service = {'pid_file': pid_file, 'pid': None, 'running': None, 'pid_file_mtime': None,
               'started_at': None, 'age_s': None}
    findings = []
    try:
        st = os.stat(pid_file)
    except FileNotFoundError:
        # Normal under systemd, which keeps no pid file: nothing to judge here.
        findings.append(finding('pid_file_missing', 'info', 'no pid file %s' % pid_file, pid_file=pid_file))
        return service, findings
    except OSError as exc:
        findings.append(finding('pid_file_unreadable', 'warning', 'cannot read %s: %s' % (pid_file, _reason(exc)),
                                pid_file=pid_file))
        return service, findings
    service['pid_file_mtime'] = iso(st.st_mtime)
    started = st.st_mtime  # the pid file is written at start: the best date when /proc cannot tell
    try:
        with open(pid_file, 'rb') as handle:
            text = handle.read(64).decode('ascii', 'replace').strip()
    except OSError as exc:
        findings.append(finding('pid_file_unreadable', 'warning', 'cannot read %s: %s' % (pid_file, _reason(exc)),
                                pid_file=pid_file))
        text = None
    if text is not None:
        proc = None
        if text.isdigit() and int(text) > 0:
            service['pid'] = int(text)
            proc = _proc_stat(service['pid'])
        # A zombie has exited; only its parent has not reaped it yet.
        service['running'] = proc is not None and proc[0] not in ('Z', 'X', 'x')
        if not service['running']:
            if service['pid'] is None:
                why = 'holds no pid (%r)' % text[:20]
            elif proc:
                why = 'names pid %d, which is a zombie' % service['pid']
            else:
                why = 'names pid %d, which is not running' % service['pid']
            findings.append(finding('stale_pid_file', 'critical', '%s %s: the service is not running' % (pid_file, why),
                                    pid_file=pid_file, pid=service['pid'], pid_file_mtime=service['pid_file_mtime']))
        else:
            try:
                started = _boot_time() + proc[1] / os.sysconf('SC_CLK_TCK')
            except (OSError, ValueError):
                pass  # keep the pid file's date
    service.update(started_at=iso(started), age_s=_age(started, now))
    return service, findings


# --- the env file and its key ---------------------------------------------------------------

def _key_from(text):
    """The value of the last MISTRAL_API_KEY= line, quotes stripped."""
    key = None
    for line in text.splitlines():
        assignment = env_assignment(line)
        if assignment and assignment[0] == KEY_NAME:
            key = assignment[1]
    return key


def read_key(env_file):
    """(key_info, findings, key). key is the secret itself (or None): the caller must hide it."""
    info = {'path': env_file, 'present': None, 'fingerprint': None, 'mode': None, 'error': None}
    findings = []
    try:
        st = os.stat(env_file)
    except FileNotFoundError:
        info['error'] = 'does not exist'
        findings.append(finding('env_file_missing', 'critical', '%s does not exist: the service has no API key' % env_file,
                                env_file=env_file))
        return info, findings, None
    except OSError as exc:
        info['error'] = 'cannot stat: %s' % _reason(exc)
        findings.append(finding('env_file_unreadable', 'warning', 'cannot read %s: %s' % (env_file, _reason(exc)),
                                env_file=env_file))
        return info, findings, None
    mode = stat.S_IMODE(st.st_mode)
    info['mode'] = '%04o' % mode
    if mode != 0o600:
        findings.append(finding('env_file_mode', 'warning', '%s has mode %s, the contract says 0600' % (env_file, info['mode']),
                                env_file=env_file, mode=info['mode']))
    try:
        with open(env_file, 'rb') as handle:
            text = handle.read().decode('utf-8', 'replace')
    except OSError as exc:
        info['error'] = 'cannot read: %s' % _reason(exc)
        findings.append(finding('env_file_unreadable', 'warning', 'cannot read %s: %s' % (env_file, _reason(exc)),
                                env_file=env_file))
        return info, findings, None
    key = _key_from(text)
    info['present'] = bool(key)
    if key:
        info['fingerprint'] = fingerprint(key)
    else:
        findings.append(finding('api_key_missing', 'critical', '%s sets no %s' % (env_file, KEY_NAME), env_file=env_file))
    return info, findings, key or None


# --- recent changes ---------------------------------------------------------------------------

def _audit_stamp(entry):
    """The entry's `at` as a UTC datetime: an ISO-8601 string or seconds since the epoch; None if neither."""
    at = entry.get('at')
    if isinstance(at, str):
        return parse_timestamp(at.strip())
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        try:
            return datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def read_audit(path, since):
    """(entries, findings): the audit log's entries at or after since (epoch), oldest first.

    The log is appended to in time order, so it is read from its end and reading stops
    at the first entry older than the window. A line that is not a JSON object with a
    readable `at` is skipped and counted.
    """
    entries, findings, bad = [], [], 0
    try:
        with open(path, 'rb') as handle:
            reader = TailReader(handle, os.fstat(handle.fileno()).st_size, AUDIT_MAX_BYTES)
            for raw in reader:
                if not raw.strip():
                    continue
                try:
                    entry = json.loads(raw.decode('utf-8'))
                except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
                    entry = None
                stamp = _audit_stamp(entry) if isinstance(entry, dict) else None
                if stamp is None:
                    bad += 1
                    continue
                if stamp.timestamp() < since:
                    break
                detail = {key: value for key, value in entry.items() if key != 'at'}
                entries.append({'code': 'audited_change', 'at': iso(stamp.timestamp()), 'detail': detail})
            else:
                if reader.truncated:
                    findings.append(finding('audit_log_truncated', 'info', '%s: read only its last %d bytes' % (
                        path, AUDIT_MAX_BYTES), audit_log=path, max_bytes=AUDIT_MAX_BYTES))
    except FileNotFoundError:
        return [], []  # the collection has changed nothing on this host yet
    except OSError as exc:
        return [], [finding('audit_log_unreadable', 'warning', 'cannot read %s: %s' % (path, _reason(exc)), audit_log=path)]
    if bad:
        findings.append(finding('audit_log_bad_lines', 'info', '%s: %d line(s) skipped, not a JSON object with an "at"' % (
            path, bad), audit_log=path, bad_lines=bad))
    entries.reverse()
    return entries, findings


def recent_changes(config, service, audit_log, recent_s, now):
    """(changes, findings): what changed on the host in the last recent_s seconds, oldest first."""
    changes = []
    if config['age_s'] is not None and config['age_s'] <= recent_s:
        changes.append({'code': 'config_modified', 'at': config['mtime'], 'detail': {'path': config['path']}})
    if service['age_s'] is not None and service['age_s'] <= recent_s:
        changes.append({'code': 'service_restarted', 'at': service['started_at'],
                        'detail': {'pid': service['pid'], 'running': service['running']}})
    entries, findings = read_audit(audit_log, now - recent_s)
    changes.extend(entries)
    changes.sort(key=lambda change: change['at'])
    for change in changes:
        findings.append(finding(change['code'], 'info', '%s at %s: %s' % (
            change['code'].replace('_', ' '), change['at'], json.dumps(change['detail'], sort_keys=True)[:200]),
            at=change['at'], detail=change['detail']))
    # The service reads production.yaml when it starts (contract, section 2): a newer file is not in effect.
    # A start time from /proc may be up to a second early (the boot time is whole seconds): allow for it.
    if service['running'] and config['age_s'] is not None and config['age_s'] < service['age_s'] - START_SLACK_S:
        findings.append(finding('config_not_applied', 'warning', '%s changed at %s, after the service started at %s: '
                                'it takes effect on restart' % (config['path'], config['mtime'], service['started_at']),
                                path=config['path'], mtime=config['mtime'], started_at=service['started_at']))
    return changes, findings


# --- all of it ----------------------------------------------------------------------------------

def collect(paths, env_file, probe=None, health_url=None, log_minutes=15, recent_s=3600, now=None):
    """Gather every part; return (result, key).

    paths: derived_paths(); probe: a _health.HealthProbe, or None to skip the health part;
    log_minutes None skips the logs. key is the API key read from env_file, or None: hide it.
    """
    now = time.time() if now is None else now
    result = {'changed': False, 'collected_at': iso(now)}
    result.update(paths, env_file=env_file)
    findings = []

    def add(source, items):
        findings.extend(dict(item, source=source) for item in items)

    result['health'] = None
    if probe is not None:
        result['health'] = dict(probe.probe(health_url), attempts=1)  # as model_health returns it
        add('health', result['health']['findings'])
    result['logs'] = None
    if log_minutes is not None:
        logs = scan(paths['log_glob'], minutes=log_minutes)
        del logs['changed']
        result['logs'] = logs
        add('logs', logs['findings'])
    result['config'], part = read_config(paths['config_path'], now)
    add('config', part)
    result['service'], part = read_service(paths['pid_file'], now)
    add('service', part)
    result['key'], part, key = read_key(env_file)
    add('key', part)
    result['recent_changes'], part = recent_changes(result['config'], result['service'], paths['audit_log'], recent_s, now)
    add('changes', part)
    result['findings'] = findings
    return result, key
