# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 5: a report as Markdown, for a person on call (the report_markdown filter).

Controller-only.
"""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_evidence import as_dict, number, quota_text, short_number
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_report import DEFAULT_TARGET
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_scenarios import VERDICTS

_RANK = {'ok': 0, 'degraded': 1, 'unknown': 2, 'down': 3, 'unreachable': 4}


def _cell(value):
    return str(value if value not in (None, '') else '-').replace('|', '\\|').replace('\n', ' ')


def _percent(value):
    return '%s%%' % short_number(round(value * 100, 1)) if number(value) is not None else '-'


def _time(value, today):
    """An ISO time as HH:MM:SS on the report's day, else as it is."""
    if isinstance(value, str) and today and value.startswith(today + 'T'):
        return value[len(today) + 1:].rstrip('Z').split('.')[0]
    return value


def _line(line, today):
    """'- host agent (12:01:02 to 12:05:40): detail'."""
    when = ''
    if line.get('since') and line.get('at'):
        when = ' (%s to %s)' % (_time(line['since'], today), _time(line['at'], today))
    elif line.get('at'):
        when = ' (%s)' % _time(line['at'], today)
    return '- %s%s%s: %s' % (line['host'], ' %s' % line['agent'] if line.get('agent') else '', when, line['detail'])


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
    today = str(report.get('generated_at') or '')[:10]
    summary = as_dict(report.get('summary'))
    out.append('Generated %s in %ss for `%s`: %s hosts, %s healthy.' % (
        report.get('generated_at') or '-', short_number(report.get('duration_s')) if report.get('duration_s') is not None else '-',
        report.get('target') or DEFAULT_TARGET, summary.get('hosts', len(report.get('hosts') or {})), summary.get('healthy', '-')))
    out.append('')
    if not report.get('scenarios'):
        out += ['No scenario holds: every host is ok.', '']
    else:
        # what to run first, in the order to handle them; each scenario's section below says why
        out += ['## Next', '', '```bash'] + [item['command'] for item in report['scenarios']] + ['```', '']

    hosts = as_dict(report.get('hosts'))
    unhealthy = sorted(name for name, host in hosts.items() if as_dict(host).get('status') != 'ok')
    if unhealthy:
        out += ['## Hosts not ok', '', '| host | status | scenarios | worst agent |', '| --- | --- | --- | --- |']
        for name in unhealthy:
            host = hosts[name]
            out.append('| %s | %s | %s | %s |' % (_cell(name), _cell(host.get('status')), _cell(', '.join(host.get('scenarios') or ())),
                                                  _cell(_worst_agent(as_dict(host.get('agents'))))))
        out += ['', '%d other hosts ok.' % (len(hosts) - len(unhealthy)) if len(hosts) > len(unhealthy) else 'No host is ok.', '']

    for index, item in enumerate(report.get('scenarios') or (), 1):
        out += ['## %s. %s: %s' % (index, item['scenario'], item.get('title', '')), '',
                'Runbook: %s (`%s`)' % (item.get('runbook'), item.get('runbook_link')), '',
                'Hosts: %s' % ', '.join(item['hosts']), '']
        for host in item['hosts']:
            agents = item['agents'].get(host) or []
            out.append('- %s: %s' % (host, ', '.join(agents) if agents else 'the host as a whole'))
        out += ['', 'Evidence:', '']
        out.extend(_line(line, today) for line in item['evidence'])
        out += ['', 'Next:', '', '```bash', item['command'], '```', '']

    if report.get('supporting'):
        out += ['## Supporting findings', '']
        for item in report['supporting']:
            where = ', '.join('%s (%s)' % (host, ', '.join(item['agents'][host])) if item['agents'].get(host) else host
                              for host in item['hosts'])
            out.append('- **%s**%s: %s' % (item['code'], ' on %s' % where if where else '', item['detail']))
        out.append('')

    if report.get('earlier'):
        out += ['## Earlier in the window', '', 'Context only: these lines decided nothing.', '']
        out.extend('%s (%s)' % (_line(line, today), line['why']) for line in report['earlier'])
        out.append('')

    mistral = as_dict(report.get('mistral'))
    out += ['## Mistral', '']
    if mistral.get('keys'):
        out += ['| key fingerprint | authenticated | status | error | rate limited | Retry-After | quota (what is left) | API calls | time |',
                '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
        for fingerprint, key in mistral['keys'].items():
            out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s |' % tuple(_cell(value) for value in (
                fingerprint, key.get('authenticated'), key.get('status'), key.get('error_kind'), key.get('rate_limited'),
                '%s s' % short_number(key['retry_after']) if key.get('retry_after') is not None else None,
                quota_text(as_dict(key.get('quota'))), key.get('api_calls'),
                '%s s' % short_number(key['elapsed_s']) if key.get('elapsed_s') is not None else None)))
        out.append('')
    else:
        out += ['No key was checked.', '']
    if mistral.get('models'):
        out += ['| model | checked by | exists | retired | replacement | status | quota (what is left) | note |',
                '| --- | --- | --- | --- | --- | --- | --- | --- |']
        for model_id, entry in mistral['models'].items():
            out.append('| %s | %s | %s | %s | %s | %s | %s | %s |' % tuple(_cell(value) for value in (
                model_id, entry.get('probe'), entry.get('exists'), entry.get('retired_on') if entry.get('retired') else entry.get('retired'),
                entry.get('replacement'), entry.get('http_status'), quota_text(as_dict(entry.get('quota'))), entry.get('message'))))
        out.append('')
    out.append('API calls: %s (at most %s: one per key and distinct model id), tokens spent: %s.' % (
        report.get('api_calls', 0), report.get('api_budget', '-'), report.get('tokens_spent', 0)))
    return '\n'.join(out) + '\n'
