# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The change wave's decisions on one host, from what its change's editing modules (rollout_set,
finetuned_toggle, api_key) returned: whether to restart, which files to put back if the host does not
recover, and the changes its run report records; and the agents' statuses a restart is judged by."""

from __future__ import annotations

import json


def change_summary(results, check_mode=False):
    """{'changed': whether any edit changed its file, 'restore': each edited file with the first backup taken
    of it in this run (the file as it was before), 'changes': per edit that changed, its audit line (or, in
    check mode, what would change)}. results: registered results, a looped one counting each of its items."""
    results = [result for result in results if hasattr(result, 'get')]
    edits = [item for result in results for item in (result['results'] if 'results' in result else [result])]
    restore = []
    for edit in edits:
        if edit.get('backup_file') and edit.get('path') not in [item['path'] for item in restore]:
            restore.append({'path': edit['path'], 'backup': edit['backup_file']})
    return {'changed': any(result.get('changed') for result in results), 'restore': restore,
            'changes': [_change(edit, check_mode) for edit in edits if edit.get('changed')]}


def _change(edit, check_mode):
    if 'audit' in edit:
        return edit['audit']
    return {'file': edit.get('path'), 'key': edit['key'] if 'key' in edit else edit.get('name'),
            'before': edit['before'] if 'before' in edit else edit.get('fingerprint_before'),
            'after': edit['after'] if 'after' in edit else edit.get('fingerprint_after'),
            'backup': edit.get('backup_file'), 'would_change': bool(check_mode)}


def agent_statuses(health):
    """{agent: status} of a genesis.model_ops.model_health result ({} without one)."""
    agents = (health.get('agents') if hasattr(health, 'get') else None) or {}
    return dict((name, agent.get('status') if hasattr(agent, 'get') else None) for name, agent in agents.items())


def remediation_markdown(report):
    """The run report (genesis.model_ops.run_report) as Markdown, for the person on call and the team's chat."""
    out = ['# Remediation %s%s' % (report['run_id'], ' (check mode: nothing was changed)' if report.get('check_mode') else ''), '',
           '%s, by %s%s, %s.' % (report['playbook'], report['user'], ', job %s' % report['job'] if report.get('job') else '',
                                 report['generated_at'])]
    if 'outcome' in report:
        out += ['', '**Outcome: %s.** %s' % (report['outcome'], report.get('outcome_detail', ''))]
    if 'plan' in report:
        out += ['', '## Plan', '', '| scenario | hosts | decision |', '|---|---|---|']
        out += ['| %s | %s | %s%s |' % (step['scenario'], ', '.join(step['hosts']) or '-', step['decision'],
                                        ': %s' % step['reason'] if step['reason'] else '') for step in report['plan']]
    out += ['', '## Hosts', '',
            "Started %s; seconds to healthy: from the host's restart, and from the start of the run." % (report.get('started_at') or '-'),
            '', '| host | playbook | change | restart (pid) | health before -> after | seconds to healthy | result |',
            '|---|---|---|---|---|---|---|']
    out += [_record_row(record) for record in report['records']] or ['| - | - | nothing done | - | - | - | - |']
    audit = ['- `%s`' % json.dumps(change) for record in report['records'] if not record['check_mode'] for change in record['changes']]
    return '\n'.join(out + ['', '## Audit lines', ''] + (audit or ['none'])) + '\n'


def _record_row(record):
    restart = record.get('restart') or {}
    changes = '; '.join('%s: %s -> %s%s' % (change['key'], change['before'], change['after'], ' (would)' if change.get('would_change') else '')
                        for change in record['changes']) or 'none'
    if restart.get('restarted'):
        pids = '%s -> %s' % (restart['old_pid'], restart['pid'])
    else:
        pids = 'would restart' if restart.get('would_restart') else 'no'
    seconds = '%s%s' % (restart.get('seconds_to_healthy') or '-', ' (%s from the start)' % record['seconds_from_run_start']
                        if record.get('seconds_from_run_start') is not None and restart.get('seconds_to_healthy') else '')
    result = 'ok'
    if record['failed']:
        result = 'FAILED: %s%s' % (record.get('error') or restart.get('failure') or 'failed',
                                   '; restored %s' % ', '.join(restart['restored']) if restart.get('restored') else '')
    return '| %s | %s | %s | %s | %s -> %s | %s | %s |' % (
        record['host'], record['playbook'], changes, pids, restart.get('status_before') or '-', restart.get('status_after') or '-',
        seconds, result)
