# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis in a few lines for the terminal and the AWX job output: the verdict and the commands first,
then only the hosts that are not ok (with a count of the others), the supporting findings, the report's path.

Controller-only (the diagnosis_summary filter); pure."""

from __future__ import annotations


def not_ok(hosts):
    """The names of the report's hosts that are not ok, sorted."""
    return sorted(name for name, host in hosts.items() if (host or {}).get('status') != 'ok')


def summary_lines(report, report_path=None):
    """The lines, in the order an on-call engineer reads them."""
    if not isinstance(report, dict) or 'verdict' not in report or not isinstance(report.get('hosts'), dict):
        raise ValueError('the report must be the verdict filter\'s result (a dict with verdict and hosts), got %r'
                         % type(report).__name__)
    hosts = report['hosts']
    unhealthy = not_ok(hosts)
    lines = ['verdict: %s  (%d hosts, %d not ok; %s API calls, %s tokens, %s s)' % (
        report['verdict'], len(hosts), len(unhealthy), report.get('api_calls', 0), report.get('tokens_spent', 0),
        report.get('duration_s', '?'))]
    lines += ['next (%s): %s' % (item.get('scenario'), item.get('command')) for item in report.get('scenarios') or ()]
    for name in unhealthy:
        host = hosts[name] or {}
        lines.append('%-16s %-11s %s' % (name, host.get('status'), ', '.join(host.get('scenarios') or ()) or '-'))
    if unhealthy and len(hosts) > len(unhealthy):
        lines.append('(%d other hosts ok)' % (len(hosts) - len(unhealthy)))
    for finding in report.get('supporting') or ():
        on = ','.join(finding.get('hosts') or ())
        lines.append('also: %s%s' % (finding.get('code'), ' on ' + on if on else ''))
    if report_path:
        lines.append('report: %s/diagnosis-latest.json, .md' % report_path)
    return lines
