# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 5: a report as Markdown, for a person on call (the report_markdown filter).

Controller-only.
"""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_evidence import as_dict, number, short_number
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_report import DEFAULT_TARGET
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_scenarios import VERDICTS

_RANK = {'ok': 0, 'degraded': 1, 'unknown': 2, 'down': 3, 'unreachable': 4}


def _cell(value):
    return str(value if value not in (None, '') else '-').replace('|', '\\|').replace('\n', ' ')


def _percent(value):
    return '%s%%' % short_number(round(value * 100, 1)) if number(value) is not None else '-'


def _worst_agent(agents):
    if not agents:
        return '-'
    order = list(agents)
    name = max(order, key=lambda agent: (_RANK.get(agents[agent]['status'], 2), number(agents[agent]['error_rate']) or 0,
                                         -order.index(agent)))
    agent = agents[name]
    text = '%s %s (errors %s, fallbacks %s' % (name, agent['status'], _percent(agent['error_rate']), _percent(agent['fallback_rate']))
    if agent['last_error']:
        text += ', last error %s' % (agent['last_error'].get('status') or agent['last_error'].get('message'))
    return text + ')'


def report_markdown(report):
    """A report from diagnose() as Markdown, for a human on call."""
    if not isinstance(report, dict) or report.get('verdict') not in VERDICTS:
        raise ValueError('report_markdown takes the report the verdict filter returns, got %s' % repr(report)[:200])
    out = ['# Model failure diagnosis: %s' % report['verdict'], '']
    summary = as_dict(report.get('summary'))
    out.append('Generated %s in %ss for `%s`: %s hosts, %s healthy.' % (
        report.get('generated_at') or '-', short_number(report.get('duration_s')) if report.get('duration_s') is not None else '-',
        report.get('target') or DEFAULT_TARGET, summary.get('hosts', len(report.get('hosts') or {})), summary.get('healthy', '-')))
    out.append('')
    if not report.get('scenarios'):
        out += ['No scenario holds: every host is ok.', '']
    else:
        out += ['Handle in this order: %s.' % ', '.join(item['scenario'] for item in report['scenarios']), '']

    out += ['## Hosts', '', '| host | status | scenarios | worst agent |', '| --- | --- | --- | --- |']
    for name, host in sorted(as_dict(report.get('hosts')).items()):
        out.append('| %s | %s | %s | %s |' % (_cell(name), _cell(host.get('status')), _cell(', '.join(host.get('scenarios') or ())),
                                              _cell(_worst_agent(as_dict(host.get('agents'))))))
    out.append('')

    for index, item in enumerate(report.get('scenarios') or (), 1):
        out += ['## %s. %s: %s' % (index, item['scenario'], item.get('title', '')), '',
                'Runbook: %s (`%s`)' % (item.get('runbook'), item.get('runbook_link')), '',
                'Hosts: %s' % ', '.join(item['hosts']), '']
        for host in item['hosts']:
            agents = item['agents'].get(host) or []
            out.append('- %s: %s' % (host, ', '.join(agents) if agents else 'the host as a whole'))
        out += ['', 'Evidence:', '']
        for line in item['evidence']:
            out.append('- %s%s: %s' % (line['host'], ' %s' % line['agent'] if line.get('agent') else '', line['detail']))
        out += ['', 'Next:', '', '```bash', item['command'], '```', '']

    if report.get('supporting'):
        out += ['## Supporting findings', '']
        for item in report['supporting']:
            where = ', '.join('%s (%s)' % (host, ', '.join(item['agents'][host])) if item['agents'].get(host) else host
                              for host in item['hosts'])
            out.append('- **%s**%s: %s' % (item['code'], ' on %s' % where if where else '', item['detail']))
        out.append('')

    mistral = as_dict(report.get('mistral'))
    out += ['## Mistral', '']
    if mistral.get('keys'):
        out += ['| key fingerprint | authenticated | status | error | rate limited |', '| --- | --- | --- | --- | --- |']
        for fingerprint, key in mistral['keys'].items():
            out.append('| %s | %s | %s | %s | %s |' % tuple(_cell(value) for value in (
                fingerprint, key.get('authenticated'), key.get('status'), key.get('error_kind'), key.get('rate_limited'))))
        out.append('')
    else:
        out += ['No key was checked.', '']
    if mistral.get('models'):
        out += ['| model | exists | retired | replacement | status | note |', '| --- | --- | --- | --- | --- | --- |']
        for model_id, entry in mistral['models'].items():
            out.append('| %s | %s | %s | %s | %s | %s |' % tuple(_cell(value) for value in (
                model_id, entry.get('exists'), entry.get('retired_on') if entry.get('retired') else entry.get('retired'),
                entry.get('replacement'), entry.get('http_status'), entry.get('message'))))
        out.append('')
    out.append('API calls: %s, tokens spent: %s.' % (report.get('api_calls', 0), report.get('tokens_spent', 0)))
    return '\n'.join(out) + '\n'
