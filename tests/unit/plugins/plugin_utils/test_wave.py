# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The change wave's decisions on a host: restart or not, what to put back, what its run report records, and the
run report in words."""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils._wave import agent_statuses, change_summary, remediation_markdown

AUDIT = {'at': '2026-11-25T12:00:00Z', 'playbook': 'rollback.yml', 'file': '/opt/genesis/production.yaml', 'key': 'models.rollout_percentage',
         'before': 100, 'after': 0, 'backup': '/opt/genesis/production.yaml.1.bak'}


def edit(changed, backup=None, path='/opt/genesis/production.yaml', **more):
    result = dict({'changed': changed, 'path': path, 'key': 'models.use_finetuned', 'before': True, 'after': False}, **more)
    if backup:
        result['backup_file'] = backup
    return result


def test_nothing_changed_nothing_to_restart_or_put_back():
    skipped = {'changed': False, 'skipped': True}
    assert change_summary([{}, skipped, {'results': [], 'skipped': True, 'changed': False}, 'not a result']) == {
        'changed': False, 'restore': [], 'changes': []}


def test_each_file_goes_back_to_its_first_backup_of_the_run():
    rollout = edit(True, '/opt/genesis/production.yaml.1.bak', audit=AUDIT)
    toggle = edit(True, '/opt/genesis/production.yaml.2.bak', audit=dict(AUDIT, key='models.use_finetuned'))
    key = {'changed': True, 'path': '/etc/genesis/genesis.env', 'name': 'MISTRAL_API_KEY', 'fingerprint_before': 'ab12cd34',
           'fingerprint_after': 'ffee0011', 'backup_file': '/etc/genesis/genesis.env.1.bak'}
    summary = change_summary([rollout, toggle, key])
    assert summary['changed'] is True
    assert summary['restore'] == [{'path': '/opt/genesis/production.yaml', 'backup': '/opt/genesis/production.yaml.1.bak'},
                                  {'path': '/etc/genesis/genesis.env', 'backup': '/etc/genesis/genesis.env.1.bak'}]
    assert summary['changes'][:2] == [AUDIT, dict(AUDIT, key='models.use_finetuned')]
    # no audit line (no audit log): what changed, a key by its fingerprints
    assert summary['changes'][2] == {'file': '/etc/genesis/genesis.env', 'key': 'MISTRAL_API_KEY', 'before': 'ab12cd34',
                                     'after': 'ffee0011', 'backup': '/etc/genesis/genesis.env.1.bak', 'would_change': False}


def test_a_looped_edit_counts_each_item_and_check_mode_says_what_would_change():
    looped = {'changed': True, 'results': [edit(True, key='models.agents.qa_agent.use_finetuned'), edit(False)]}
    summary = change_summary([looped], check_mode=True)
    assert summary['changed'] and summary['restore'] == []  # check mode takes no backup
    assert summary['changes'] == [{'file': '/opt/genesis/production.yaml', 'key': 'models.agents.qa_agent.use_finetuned',
                                   'before': True, 'after': False, 'backup': None, 'would_change': True}]


def test_agent_statuses():
    health = {'status': 'degraded', 'agents': {'qa_agent': {'status': 'degraded'}, 'legal_agent': {'error_rate': 0}}}
    assert agent_statuses(health) == {'qa_agent': 'degraded', 'legal_agent': None}
    assert agent_statuses({'skipped': True}) == agent_statuses(None) == {}


RECORD = {'host': 'genesis-001', 'playbook': 'rollback.yml', 'check_mode': False, 'changes': [AUDIT], 'seconds_from_run_start': 9.5,
          'failed': False, 'error': None,
          'restart': {'restarted': True, 'would_restart': False, 'old_pid': 11, 'pid': 12, 'status_before': 'degraded',
                      'status_after': 'ok', 'seconds_to_healthy': 4.2, 'restored': []}}
REPORT = {'run_id': '20261125T120000Z-42', 'playbook': 'rollback.yml', 'generated_at': '2026-11-25T12:01:00Z', 'started_at': None,
          'check_mode': False, 'user': 'alice', 'job': None, 'records': []}


def test_the_run_report_in_words():
    failed = dict(RECORD, host='genesis-002', failed=True, error='genesis-002 did not recover',
                  restart=dict(RECORD['restart'], seconds_to_healthy=None, restored=['/opt/genesis/production.yaml']))
    checked = dict(RECORD, host='genesis-003', check_mode=True, seconds_from_run_start=None,
                   changes=[dict(AUDIT, would_change=True)], restart=dict(RECORD['restart'], restarted=False, would_restart=True))
    text = remediation_markdown(dict(REPORT, records=[RECORD, failed, checked], job=4711))
    lines = text.splitlines()
    assert lines[:3] == ['# Remediation 20261125T120000Z-42', '', 'rollback.yml, by alice, job 4711, 2026-11-25T12:01:00Z.']
    assert "Started -; seconds to healthy: from the host's restart, and from the start of the run." in lines
    assert ('| genesis-001 | rollback.yml | models.rollout_percentage: 100 -> 0 | 11 -> 12 | degraded -> ok | 4.2 (9.5 from the start) '
            '| ok |') in lines
    assert ('| genesis-002 | rollback.yml | models.rollout_percentage: 100 -> 0 | 11 -> 12 | degraded -> ok | - | FAILED: genesis-002 '
            'did not recover; restored /opt/genesis/production.yaml |') in lines
    assert '| genesis-003 | rollback.yml | models.rollout_percentage: 100 -> 0 (would) | would restart | degraded -> ok | 4.2 | ok |' in lines
    # the audit lines of what was done, not of what only would be
    assert lines[lines.index('## Audit lines') + 2:] == ['- `%s`' % '{"at": "2026-11-25T12:00:00Z", "playbook": "rollback.yml", '
                                                         '"file": "/opt/genesis/production.yaml", "key": "models.rollout_percentage", '
                                                         '"before": 100, "after": 0, "backup": "/opt/genesis/production.yaml.1.bak"}'] * 2
    assert text.endswith('`\n')


def test_an_unattended_run_in_words_and_a_run_that_did_nothing():
    plan = [{'scenario': 'rate_limit', 'hosts': ['genesis-001'], 'decision': 'run', 'reason': ''},
            {'scenario': 'unknown', 'hosts': [], 'decision': 'needs_person', 'reason': 'no playbook fixes it'}]
    text = remediation_markdown(dict(REPORT, check_mode=True, outcome='dry_run', outcome_detail='Verdict before: rate_limit.', plan=plan))
    assert text.startswith('# Remediation 20261125T120000Z-42 (check mode: nothing was changed)\n')
    assert '\n**Outcome: dry_run.** Verdict before: rate_limit.\n\n## Plan\n\n| scenario | hosts | decision |\n|---|---|---|\n' in text
    assert '| rate_limit | genesis-001 | run |\n| unknown | - | needs_person: no playbook fixes it |\n' in text
    assert '| - | - | nothing done | - | - | - | - |' in text and text.endswith('## Audit lines\n\nnone\n')
