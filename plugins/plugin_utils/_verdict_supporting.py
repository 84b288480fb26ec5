# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 3: the supporting findings that ride along with the scenarios, by code.

Controller-only (the verdict filter).
"""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_evidence import as_dict, is_gone, last_error_text, model_text

SUPPORTING = ('key_rate_limited', 'key_mismatch', 'key_missing', 'fallback_not_viable', 'model_unavailable_mitigated', 'model_archived',
              'model_deprecated', 'recent_config_change', 'service_restarted', 'mistral_check_failed', 'prometheus_unavailable')


class Supporting:
    """Supporting findings gathered by (code, subject), in the order hosts and agents come."""

    def __init__(self):
        self.items = {}

    def add(self, code, host=None, agent=None, detail='', subject=None):
        item = self.items.setdefault((code, subject if subject is not None else detail),
                                     {'code': code, 'hosts': [], 'agents': {}, 'details': []})
        if host is not None and host not in item['hosts']:
            item['hosts'].append(host)
        if agent is not None and agent not in item['agents'].setdefault(host, []):
            item['agents'][host].append(agent)
        if detail and detail not in item['details']:
            item['details'].append(detail)

    def result(self):
        def rank(item):
            known = item['code'] in SUPPORTING
            return (SUPPORTING.index(item['code']) if known else SUPPORTING.index('service_restarted') + 0.5, item['code'])
        out = []
        for item in sorted(self.items.values(), key=rank):  # sorted() is stable: first seen first within a code
            details = item['details']
            detail = '; '.join(details[:5]) + ('; and %s more' % (len(details) - 5) if len(details) > 5 else '')
            out.append({'code': item['code'], 'hosts': sorted(item['hosts']),
                        'agents': dict((host, item['agents'][host]) for host in sorted(item['agents'])),
                        'detail': mask(detail)})
        return out


def _change_code(code):
    """host_evidence's recent-change codes as supporting codes: any config change, any restart."""
    code = str(code or 'recent_change').lower()
    if 'config' in code:
        return 'recent_config_change'
    if 'restart' in code or 'service' in code:
        return 'service_restarted'
    return code


def host_supporting(host, supporting):
    if host.env_fingerprint and host.controller_fingerprint and host.env_fingerprint != host.controller_fingerprint:
        supporting.add('key_mismatch', host.name, None, '%s: env file key %s, controller key %s'
                       % (host.name, host.env_fingerprint, host.controller_fingerprint), subject='')
    if as_dict(host.data.get('key')).get('present') is False:
        supporting.add('key_missing', host.name, None, '%s: no MISTRAL_API_KEY in the env file' % host.name, subject='')
    for agent in host.agents:
        finetuned, baseline = host.ids(agent)
        entry = host.model_entry(baseline)
        error = host.last_error(agent)
        if is_gone(entry):
            supporting.add('fallback_not_viable', host.name, agent, 'baseline %s: a failing call has no working fallback'
                           % model_text(baseline, entry), subject=baseline)
        elif baseline and error and host.failed_model(agent, error) == 'baseline':
            supporting.add('fallback_not_viable', host.name, agent, 'baseline %s answered %s: a failing call has no working fallback'
                           % (baseline, last_error_text(error)), subject=baseline)
        for model_id in (finetuned, baseline):
            entry = host.model_entry(model_id)
            if entry.get('archived'):
                supporting.add('model_archived', host.name, agent, 'mistral: %s is archived: unarchive it before use' % model_id,
                               subject=model_id)
            if entry.get('deprecated'):
                supporting.add('model_deprecated', host.name, agent, 'mistral: %s deprecated, removal on %s%s' % (
                    model_id, entry.get('deprecation'), '; replacement %s' % entry['replacement'] if entry.get('replacement') else ''),
                    subject=model_id)
    for change in host.data.get('recent_changes') or ():
        change = as_dict(change)
        detail = change.get('detail')
        if isinstance(detail, dict):  # host_evidence gives {path: ...}, {pid: ..., running: ...}, an audit entry
            detail = ', '.join('%s=%s' % (key, detail[key]) for key in sorted(detail))
        supporting.add(_change_code(change.get('code')), host.name, None, '%s at %s: %s' % (host.name, change.get('at'), detail),
                       subject='')
