# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 4: the report of a run's evidence (``diagnose``), for the verdict filter.

Pure functions (no I/O, no clock): the playbook gathers, this decides. The stages:
_verdict_evidence reads each host, _verdict_scenarios finds the scenarios,
_verdict_supporting the supporting findings; this puts them into the report, and
_report_markdown writes it for a person.
"""

from __future__ import annotations

import datetime
import json
import os
import posixpath
import re
import shlex

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask, mask_data
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_evidence import (
    STATUSES, HostEvidence, as_dict, iso, number, parse_time, quota, quota_text)
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_scenarios import (
    ORDER, SCENARIOS, find_complete_failure, find_credentials, find_model_unavailable, find_rate_limit, find_unknown, key_limit)
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_supporting import Supporting, host_supporting

RUNBOOK = 'docs/model-failure-runbook.md'
DEFAULT_TARGET = 'genesis'


def _float(value):
    """A number given as a number or as text (a templated setting may be either); None otherwise."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return number(value)


def _anchor(section):
    """The GitHub anchor of a Markdown heading."""
    return re.sub(r'[^a-z0-9 -]', '', section.lower()).replace(' ', '-')


# A run of the installed collection's playbooks (genesis.model_ops.diagnose) has its playbook_dir there.
COLLECTION_PLAYBOOKS = re.compile(r'/ansible_collections/genesis/model_ops/playbooks/?$')


def _playbook(playbook, settings):
    """The playbook as it exists where the run came from: under model_ops_command_dir when set; by its FQCN
    (genesis.model_ops.<name>) when the run was of the installed collection's playbooks; else its file, beside
    the playbook that ran (a clone, an AWX project).

    A clone finds its own collection through a link (.collections/ansible_collections/genesis/model_ops
    pointing at the clone): its playbooks resolve to the clone's playbooks/ folder, not to an installed
    collection, and the next command is the file at the clone's root."""
    if settings.get('playbook_dir'):
        return posixpath.join(str(settings['playbook_dir']), playbook)
    entry = str(settings.get('entry_dir') or '')
    if entry and COLLECTION_PLAYBOOKS.search(os.path.realpath(entry)):
        return 'genesis.model_ops.' + posixpath.splitext(playbook)[0]
    return playbook


def _inventories(settings):
    """The inventories the run used, when they are not those Ansible takes without -i: pasted elsewhere, a
    command without them would run against another inventory, and quietly match no host."""
    sources = [str(source) for source in settings.get('inventory_sources') or () if source]
    if sources == [str(source) for source in settings.get('default_inventory') or ()]:
        return []
    return sources


def _command(playbook, hosts, all_hosts, settings, verbose=False):
    """The exact next command: the run's inventories, --limit when not every host of the run is concerned, or
    the run was limited."""
    args = ['ansible-playbook', _playbook(playbook, settings)]
    for source in _inventories(settings):
        args += ['-i', source]
    target = settings.get('target')
    if target and target != DEFAULT_TARGET:  # the playbooks act on the group genesis unless told
        args += ['-e', 'target=%s' % target]
    if set(hosts) != set(all_hosts) or settings.get('limit'):
        # a run that was limited names its hosts even when all of them are concerned: the group is wider
        args += ['--limit', ','.join(hosts)]
    if verbose:
        args.append('-v')
    return ' '.join(shlex.quote(arg) for arg in args)


def _findings(host):
    """The host's findings, masked again: a finding's evidence may quote a last_error or a body."""
    out = []
    for source, items in (('health', (host.health or {}).get('findings')), ('log', (host.logs or {}).get('findings')),
                          ('host', host.data.get('findings'))):
        for item in items or ():
            item = as_dict(item)
            out.append({'source': source, 'code': item.get('code'), 'severity': item.get('severity'), 'agent': item.get('agent'),
                        'message': mask(str(item.get('message') or '')), 'evidence': mask_data(as_dict(item.get('evidence')))})
    return out


def _host_report(host, scenarios):
    agents = {}
    for agent in host.agents:
        figures = host.figures.get(agent, {})
        error = figures.get('last_error')
        agents[agent] = {
            'status': figures.get('status') if agent in host.figures else 'unknown',
            'model': figures.get('model'),
            'error_rate': number(figures.get('error_rate')),
            'fallback_rate': number(figures.get('fallback_rate')),
            'last_error': {'at': error.get('at'), 'status': error.get('status'), 'message': mask(str(error.get('message') or ''))}
            if isinstance(error, dict) else None,
            # carried from report to report: the next diagnosis reads it as the agent's last healthy report
            'last_ok_at': iso(host.last_ok.get(agent)),
        }
    return {'status': host.status, 'reachable': host.reachable, 'started_at': iso(host.started_at), 'scenarios': scenarios,
            'agents': agents, 'findings': _findings(host)}


def _rows(rows, columns):
    """[[time, errors, fallbacks], ...] of rows whose time and figures are at those columns; malformed rows dropped."""
    out = []
    for row in rows if isinstance(rows, list) else ():
        if isinstance(row, list) and len(row) > max(columns) and isinstance(row[0], str):
            out.append([row[0]] + [number(row[column]) for column in columns])
    return out


def _chart(data, agent):
    """An agent's errors and fallbacks per minute for the report's chart: from Prometheus' range query when it has
    them, else from the host's log lines; None without either."""
    points = _rows(as_dict(data.get('prometheus_chart')).get(agent), (1, 2))
    if points:
        return {'source': 'prometheus', 'points': points}
    points = _rows(as_dict(as_dict(data.get('logs')).get('by_agent_minute')).get(agent), (2, 3))
    return {'source': 'logs', 'points': points} if points else None


def _mistral_report(mistral):
    keys, models = {}, {}
    for fingerprint in sorted(mistral):
        check = as_dict(mistral[fingerprint])
        key, limits = as_dict(check.get('key')), as_dict(check.get('rate_limit'))
        limited, figures, _zero = key_limit(check)
        keys[fingerprint] = {'authenticated': key.get('authenticated'), 'status': key.get('status'), 'error_kind': key.get('error_kind'),
                             'message': mask(str(key['message'])) if key.get('message') else None,
                             'rate_limited': bool(number(limits.get('limited'))) or limited,
                             'retry_after': number(limits.get('retry_after')),
                             # what the API says of the key's quota: the key check's answer, else the last answer
                             'quota': figures or quota(limits.get('headers')),
                             'checked_at': check.get('checked_at'), 'elapsed_s': number(check.get('elapsed_s')),
                             'api_calls': number(check.get('api_calls')), 'retry_wait_s': number(limits.get('waited')),
                             'tokens_spent': number(check.get('tokens_spent'))}
        for model_id, entry in as_dict(check.get('models')).items():
            entry = as_dict(entry)
            # one line per id: the first key that got an answer about it
            if model_id in models and (models[model_id]['exists'] is not None or entry.get('exists') is None):
                continue
            models[model_id] = dict((name, entry.get(name)) for name in (
                'exists', 'type', 'retired', 'retired_on', 'replacement', 'deprecated', 'deprecation', 'archived',
                'http_status', 'error_kind', 'checked', 'probe'))
            models[model_id]['message'] = mask(str(entry['message'])) if entry.get('message') else None
            models[model_id]['quota'] = quota(entry.get('headers'))
            models[model_id]['retry_after'] = number(_float(as_dict(entry.get('headers')).get('retry-after')))
            models[model_id]['fingerprint'] = fingerprint
    return {'keys': keys, 'models': models}


def _key_at_risk(fingerprint, check, hosts, found):
    """The detail of key_rate_limited: what was rate limited on the key, and that every agent on it is at risk."""
    limited, figures, zero = key_limit(check)
    seen = []
    if limited or zero:
        seen.append('the key check answered 429' if limited else 'nothing left of %s' % ', '.join(zero))
    models = sorted(model_id for model_id, entry in as_dict(as_dict(check).get('models')).items()
                    if as_dict(entry).get('checked') is not False and as_dict(entry).get('error_kind') == 'rate_limited')
    if models:
        seen.append('429 for %s' % ', '.join(models))
    agents = sorted(set(agent for host in hosts for agent in found.get(host, {}).get('agents', ())))
    if agents:
        seen.append('429s on the hosts for %s' % ', '.join(agents))
    detail = 'key fingerprint %s rate limited (%s): every agent on this key is at risk' % (fingerprint, '; '.join(seen))
    figures = figures or quota(as_dict(as_dict(check).get('rate_limit')).get('headers'))
    return detail + ('; quota: %s' % quota_text(figures) if figures else '')


def _previous(value):
    """An earlier report (a dict, or its JSON text), for the agents' last healthy reports; None when unusable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _validate(evidence):
    if not isinstance(evidence, dict):
        raise ValueError('evidence must be a dict with hosts, mistral, prometheus and settings, got %s' % type(evidence).__name__)
    hosts = evidence.get('hosts')
    if not isinstance(hosts, dict) or not hosts:
        raise ValueError('evidence.hosts must be a non-empty dict of host results by inventory name, got %r' % (hosts,))
    for name, data in hosts.items():
        if not isinstance(data, dict):
            raise ValueError('evidence.hosts[%s] must be a dict, got %s' % (name, type(data).__name__))
    for name in ('mistral', 'prometheus', 'settings'):
        if evidence.get(name) is not None and not isinstance(evidence[name], dict):
            raise ValueError('evidence.%s must be a dict or null, got %s' % (name, type(evidence[name]).__name__))


def diagnose(evidence):
    """The diagnosis of a run's evidence (see the module docstring and the filter's docs): the report, a dict."""
    _validate(evidence)
    settings = evidence.get('settings') or {}
    mistral = evidence.get('mistral') or {}
    thresholds = {}
    for name, default in (('error_rate', 0.05), ('fallback_rate', 0.10)):
        value = settings.get('%s_threshold' % name)
        thresholds[name] = default if value is None else _float(value)
        if thresholds[name] is None or not 0 <= thresholds[name] <= 1:
            raise ValueError('settings.%s_threshold must be a number from 0 to 1, got %r' % (name, value))

    all_hosts = sorted(evidence['hosts'])
    found = dict((scenario, {}) for scenario in ORDER)
    supporting = Supporting()
    views = {}
    earlier = []
    previous = _previous(evidence.get('previous'))
    for name in all_hosts:
        data = evidence['hosts'][name]
        host = views[name] = HostEvidence(name, data, mistral, thresholds, now=settings.get('generated_at'), previous=previous)
        credentials = find_credentials(host)
        held = {'credentials': credentials, 'complete_failure': find_complete_failure(host, credentials),
                'model_unavailable': find_model_unavailable(host, supporting), 'rate_limit': find_rate_limit(host)}
        explained = set()
        for scenario, result in held.items():
            if result:
                found[scenario][name] = {'agents': result[0], 'evidence': result[1]}
                explained.update(result[0])
        if held['credentials'] or held['complete_failure']:
            explained.update(host.agents)  # every agent of the host is in it
        unknown = find_unknown(host, explained, any(held.values()), data.get('prometheus'))
        if unknown:
            found['unknown'][name] = {'agents': unknown[0], 'evidence': unknown[1]}
        host_supporting(host, supporting)
        earlier.extend(host.earlier([line for scenario in ORDER for line in found[scenario].get(name, {}).get('evidence', ())]))

    for fingerprint in sorted(mistral):
        on_key = [name for name in all_hosts if views[name].key_fingerprint == fingerprint]
        limited = [name for name in on_key if name in found['rate_limit']]
        if limited:
            supporting.add('key_rate_limited', detail=_key_at_risk(fingerprint, mistral[fingerprint], limited, found['rate_limit']),
                           subject=fingerprint)
            for name in on_key:
                supporting.add('key_rate_limited', name, subject=fingerprint)

    for fingerprint in sorted(mistral):
        check = as_dict(mistral[fingerprint])
        if not isinstance(check.get('key'), dict):  # the task failed or was skipped: no word from Mistral on this key
            supporting.add('mistral_check_failed', detail='key %s: %s' % (fingerprint, check.get('msg') or 'no result'),
                           subject=fingerprint)

    prometheus = evidence.get('prometheus')
    if not prometheus:
        supporting.add('prometheus_unavailable', detail='Prometheus was not queried: error rates come from /health only')
    elif not prometheus.get('available'):
        why = '; '.join(as_dict(item).get('message') for item in prometheus.get('findings') or () if as_dict(item).get('message'))
        supporting.add('prometheus_unavailable', detail='Prometheus not available%s: error rates come from /health only'
                       % (' (%s)' % why if why else ''))

    scenarios = []
    for scenario in ORDER:
        per_host = found[scenario]
        if not per_host:
            continue
        title, section, playbook = SCENARIOS[scenario]
        hosts = sorted(per_host)
        scenarios.append({
            'scenario': scenario, 'title': title, 'hosts': hosts,
            'agents': dict((host, per_host[host]['agents']) for host in hosts),
            'evidence': [line for host in hosts for line in per_host[host]['evidence']],
            'command': _command(playbook, hosts, all_hosts, settings, verbose=scenario == 'unknown'),
            'runbook': section, 'runbook_link': '%s#%s' % (RUNBOOK, _anchor(section)),
        })

    host_reports = dict((name, _host_report(views[name], [scenario for scenario in ORDER if name in found[scenario]]))
                        for name in all_hosts)
    by_status = dict((status, 0) for status in STATUSES)
    for report in host_reports.values():
        by_status[report['status']] += 1
    charts = []  # every agent in a scenario, or not ok: its errors and fallbacks per minute over the window
    until = parse_time(settings.get('generated_at'))
    minutes = _float(settings.get('log_minutes'))
    window = {'from': iso(until - datetime.timedelta(minutes=minutes)) if until and minutes else None, 'to': iso(until)}
    for name in all_hosts:
        in_scenario = set(agent for scenario in ORDER for agent in found[scenario].get(name, {}).get('agents', ()))
        for agent in sorted(in_scenario | set(views[name].not_ok)):
            chart = _chart(evidence['hosts'][name], agent)
            if chart:
                charts.append(dict(host=name, agent=agent, unit='per minute', window=window, **chart))
    checks = [as_dict(check) for _fp, check in sorted(mistral.items())]
    return {
        'verdict': scenarios[0]['scenario'] if scenarios else 'healthy',
        'scenarios': scenarios,
        'supporting': supporting.result(),
        'hosts': host_reports,
        'mistral': _mistral_report(mistral),
        'earlier': earlier,
        'charts': charts,
        'api_calls': sum(number(check.get('api_calls')) or 0 for check in checks),
        # the most a diagnosis may call: once per key, once per distinct model id of that key
        'api_budget': sum(1 + len(as_dict(check.get('models'))) for check in checks if isinstance(check.get('key'), dict)),
        'tokens_spent': sum(number(check.get('tokens_spent')) or 0 for check in checks),
        'generated_at': settings.get('generated_at'),
        'duration_s': _float(settings.get('duration_s')),
        'target': settings.get('target') or DEFAULT_TARGET,
        'thresholds': {'error_rate': thresholds['error_rate'], 'fallback_rate': thresholds['fallback_rate']},
        'summary': {
            'hosts': len(all_hosts),
            'healthy': sum(1 for name in all_hosts if views[name].ok() and not host_reports[name]['scenarios']),
            'by_status': by_status,
            'by_scenario': dict((scenario, len(found[scenario])) for scenario in ORDER if found[scenario]),
        },
    }
