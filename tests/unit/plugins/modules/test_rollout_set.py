# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""rollout_set's main(), driven as Ansible drives it."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import rollout_set
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module as run_main

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'production.yaml')


@pytest.fixture
def config(tmp_path):
    path = str(tmp_path / 'production.yaml')
    shutil.copy(FIXTURE, path)
    return path


@pytest.fixture
def run(capsys):
    """Run the module with args; return (exit code, parsed JSON result)."""
    def run_module(args, check=False, diff=False):
        return run_main(rollout_set.main, dict(args, _ansible_check_mode=check, _ansible_diff=diff), capsys)[:2]
    return run_module


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def ours(result):
    """The module's own return values, without what Ansible adds (invocation, the file's stat)."""
    return {k: v for k, v in result.items() if k in ('changed', 'path', 'key', 'before', 'after', 'backup_file', 'diff')}


def test_sets_the_percentage(run, config):
    old = read(config)
    code, result = run(dict(path=config, percentage=5), diff=True)
    assert code == 0
    assert result['changed'] is True
    assert (result['path'], result['key'], result['before'], result['after']) == (
        config, 'models.rollout_percentage', 100, 5)
    assert 'backup_file' not in result
    assert result['diff'] == dict(before=old.decode(), after=read(config).decode(),
                                  before_header=config, after_header=config)
    assert read(config) == old.replace(b'rollout_percentage: 100', b'rollout_percentage: 5')


def test_no_diff_unless_asked(run, config):
    assert 'diff' not in run(dict(path=config, percentage=5))[1]


@pytest.mark.parametrize('percentage, value', [('5', 5), (0, 0), (100, 100), ('042', 42)])
def test_accepted_percentages(run, config, percentage, value):
    code, result = run(dict(path=config, percentage=percentage))
    assert code == 0
    assert result['after'] == value


@pytest.mark.parametrize('percentage, shown', [(150, '150'), (-1, '-1'), (5.5, '5.5'), (42.0, '42.0'), ('abc', "'abc'"),
                                               ('5.5', "'5.5'"), (' 5 ', "' 5 '"), ('+5', "'+5'"), ('\u0663', "'\u0663'"),
                                               ('5\n', "'5\\n'"), (True, 'True')])
def test_refused_percentages(run, config, percentage, shown):
    old = read(config)
    code, result = run(dict(path=config, percentage=percentage))
    assert code == 1
    assert result['failed'] is True
    assert result['msg'] == 'percentage=%s is not allowed: give an integer from 0 to 100' % shown
    assert read(config) == old


def test_check_mode_reports_what_a_run_does(run, config):
    old, mtime, files = read(config), os.stat(config).st_mtime_ns, os.listdir(os.path.dirname(config))
    code, checked = run(dict(path=config, percentage=5, backup=True), check=True, diff=True)
    assert code == 0 and checked['changed'] is True
    assert read(config) == old
    assert os.stat(config).st_mtime_ns == mtime
    assert os.listdir(os.path.dirname(config)) == files
    code, real = run(dict(path=config, percentage=5), diff=True)
    assert ours(real) == ours(checked)


def test_second_run_is_unchanged(run, config):
    run(dict(path=config, percentage=5))
    mtime = os.stat(config).st_mtime_ns
    code, result = run(dict(path=config, percentage='5'))
    assert code == 0
    assert result['changed'] is False
    assert result['before'] == result['after'] == 5
    assert os.stat(config).st_mtime_ns == mtime


def test_backup_and_dest_alias(run, config):
    old = read(config)
    code, result = run(dict(dest=config, percentage=25, backup=True))
    assert code == 0
    assert result['backup_file'].startswith(config + '.')
    assert read(result['backup_file']) == old


def test_missing_file_fails_clearly(run, tmp_path):
    path = str(tmp_path / 'missing.yaml')
    code, result = run(dict(path=path, percentage=5))
    assert code == 1
    assert result['msg'] == '%s does not exist' % path
    assert result['key'] == 'models.rollout_percentage'
    assert os.listdir(str(tmp_path)) == []


def test_missing_models_section_fails_clearly(run, tmp_path):
    path = str(tmp_path / 'production.yaml')
    with open(path, 'w') as f:
        f.write('server: {port: 8080}\n')
    code, result = run(dict(path=path, percentage=5))
    assert code == 1
    assert result['msg'] == "%s: no 'models' at the top level (there: server)" % path


def test_quoted_value_keeps_its_quotes_with_a_warning(run, tmp_path):
    path = str(tmp_path / 'production.yaml')
    with open(path, 'w') as f:
        f.write('models:\n  rollout_percentage: "100"\n')
    code, result = run(dict(path=path, percentage=5))
    assert code == 0
    assert result['after'] == '5'
    assert read(path) == b'models:\n  rollout_percentage: "5"\n'
    assert [w['event']['msg'] for w in result['warnings']] == [
        "models.rollout_percentage was quoted in %s, so its new value is the string '5'" % path]


def test_negative_lock_timeout_is_refused(run, config):
    code, result = run(dict(path=config, percentage=5, lock_timeout=-1))
    assert code == 1
    assert result['msg'] == 'lock_timeout=-1 is not allowed: give a number of seconds from 0 to 1000000000'


def test_the_change_is_audited_with_its_context(run, config, tmp_path):
    audit_log = str(tmp_path / 'logs' / 'model_ops_audit.jsonl')
    os.makedirs(os.path.dirname(audit_log))
    code, result = run(dict(path=config, percentage=5, audit_log=audit_log,
                            audit_context={'playbook': 'rollback.yml', 'user': 'alice'}))
    assert code == 0 and result['changed']
    with open(audit_log, encoding='utf-8') as handle:
        lines = [json.loads(line) for line in handle]
    assert len(lines) == 1
    assert {k: lines[0][k] for k in ('playbook', 'user', 'file', 'key', 'before', 'after')} == {
        'playbook': 'rollback.yml', 'user': 'alice', 'file': config, 'key': 'models.rollout_percentage', 'before': 100, 'after': 5}
    # nothing to change: no audit line
    code, result = run(dict(path=config, percentage=5, audit_log=audit_log, audit_context={'playbook': 'rollback.yml'}))
    assert code == 0 and not result['changed']
    with open(audit_log, encoding='utf-8') as handle:
        assert len(handle.readlines()) == 1


def test_a_refused_edit_names_the_file_and_the_key(run, tmp_path):
    path = str(tmp_path / 'production.yaml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('models: 5\n')
    code, result = run(dict(path=path, percentage=5))
    assert code == 1 and result['failed']
    assert (result['path'], result['key']) == (path, 'models.rollout_percentage'), result


def test_a_quoted_value_already_set_warns_no_more(run, tmp_path):
    path = str(tmp_path / 'production.yaml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('models:\n  rollout_percentage: "5"\n')
    code, result = run(dict(path=path, percentage=5))
    assert code == 0 and not result['changed']
    assert not result.get('warnings'), result.get('warnings')
