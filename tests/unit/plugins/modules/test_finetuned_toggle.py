# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""finetuned_toggle's main(), driven as Ansible drives it."""

from __future__ import annotations

import fcntl
import os
import shutil

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import finetuned_toggle
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module as run_main

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'production.yaml')


@pytest.fixture
def config(tmp_path):
    path = os.path.realpath(str(tmp_path / 'production.yaml'))
    shutil.copy(FIXTURE, path)
    return path


@pytest.fixture
def run(capsys):
    """Run the module with args; return (exit code, parsed JSON result)."""
    def run_module(args, check=False, diff=False):
        return run_main(finetuned_toggle.main, dict(args, _ansible_check_mode=check, _ansible_diff=diff), capsys)[:2]
    return run_module


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def ours(result):
    """The module's own return values, without what Ansible adds (invocation, the file's stat)."""
    return {k: v for k, v in result.items() if k in ('changed', 'path', 'key', 'before', 'after', 'backup_file', 'diff')}


def test_global_switch(run, config):
    old = read(config)
    code, result = run(dict(path=config, enabled=False))
    assert code == 0
    assert (result['changed'], result['key'], result['before'], result['after']) == (
        True, 'models.use_finetuned', True, False)
    assert read(config) == old.replace(b'  use_finetuned: true        # global', b'  use_finetuned: false        # global')


def test_agent_with_the_key(run, config):
    old = read(config)
    code, result = run(dict(path=config, enabled='no', agent='qa_agent'), diff=True)
    assert code == 0
    assert (result['key'], result['before'], result['after']) == ('models.agents.qa_agent.use_finetuned', True, False)
    assert read(config) == old.replace(b'      use_finetuned: true    #', b'      use_finetuned: false    #')
    assert result['diff']['after'] == read(config).decode()


def test_flow_agent_without_the_key(run, config):
    old = read(config)
    code, result = run(dict(path=config, enabled=False, agent='support_agent'))
    assert code == 0
    assert (result['changed'], result['before'], result['after']) == (True, None, False)
    assert read(config) == old.replace(b'baseline: open-mistral-7b}\n', b'baseline: open-mistral-7b, use_finetuned: false}\n')


def test_block_agent_without_the_key(run, config):
    old = read(config)
    code, result = run(dict(path=config, enabled=False, agent='analyst_agent'))
    assert code == 0
    assert read(config) == old.replace(b'        max_tokens: 2048\n', b'        max_tokens: 2048\n      use_finetuned: false\n')


def test_unknown_agent_names_the_agents(run, config):
    old = read(config)
    code, result = run(dict(path=config, enabled=False, agent='sales_agent'))
    assert code == 1
    assert result['msg'] == ("%s: no 'sales_agent' under models.agents "
                             "(there: qa_agent, support_agent, legal_agent, analyst_agent, content_agent)" % config)
    assert read(config) == old


def test_empty_agent_is_not_the_global_switch(run, config):
    code, result = run(dict(path=config, enabled=False, agent=''))
    assert code == 1
    assert "no '' under models.agents" in result['msg']


def test_check_mode_then_run_then_idempotent(run, config):
    old, mtime, files = read(config), os.stat(config).st_mtime_ns, sorted(os.listdir(os.path.dirname(config)))
    code, checked = run(dict(path=config, enabled=False, agent='content_agent', backup=True), check=True, diff=True)
    assert code == 0 and checked['changed'] is True
    assert 'backup_file' not in checked
    assert (read(config), os.stat(config).st_mtime_ns, sorted(os.listdir(os.path.dirname(config)))) == (old, mtime, files)

    code, real = run(dict(path=config, enabled=False, agent='content_agent'), diff=True)
    assert ours(real) == ours(checked)

    mtime = os.stat(config).st_mtime_ns
    code, again = run(dict(path=config, enabled=False, agent='content_agent'), diff=True)
    assert again['changed'] is False
    assert again['diff']['before'] == again['diff']['after']
    assert os.stat(config).st_mtime_ns == mtime


def test_lock_timeout(run, config):
    old = read(config)
    fd = os.open(config + '.lock', os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code, result = run(dict(path=config, enabled=False, lock_timeout=0.2))
    finally:
        os.close(fd)
    assert code == 1
    assert result['msg'] == 'timed out after 0.2s waiting for the lock on %s: another run holds %s.lock' % (config, config)
    assert read(config) == old


def test_malformed_yaml_fails_and_changes_nothing(run, tmp_path):
    path = str(tmp_path / 'production.yaml')
    with open(path, 'w') as f:
        f.write('models:\n  use_finetuned: [true\n')
    code, result = run(dict(path=path, enabled=False))
    assert code == 1
    assert result['msg'].startswith('%s: the file is not valid YAML: ' % path)
    assert read(path) == b'models:\n  use_finetuned: [true\n'
    assert os.listdir(str(tmp_path)) == ['production.yaml']
