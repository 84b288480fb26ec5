# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""file_restore's main() on real files: a file edited with a backup, put back through the safe writer."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import api_key, file_restore, rollout_set
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'production.yaml')
SERVICE_USER = 65534  # nobody: a file the service user owns, not root
KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'
NEW_KEY = 'Nw7yB1cD5fH7jA0sEZq3xK9mP2vL8nR4'


def run(main, args, capsys, check=False, diff=False):
    return run_module(main, dict(args, _ansible_check_mode=check, _ansible_diff=diff), capsys)[:2]


def read(path):
    with open(path, 'rb') as handle:
        return handle.read()


@pytest.fixture
def linked(tmp_path):
    """production.yaml as a symbolic link to a file in another folder, owned by the service user, mode 0640."""
    (tmp_path / 'real').mkdir()
    target = tmp_path / 'real' / 'production.yaml'
    shutil.copy(FIXTURE, target)
    os.chown(target, SERVICE_USER, SERVICE_USER)
    os.chmod(target, 0o640)
    link = tmp_path / 'production.yaml'
    link.symlink_to(target)
    return str(link), str(target)


def test_an_edit_is_put_back_with_owner_mode_and_link_kept(capsys, tmp_path, linked):
    link, target = linked
    old = read(target)
    code, edit = run(rollout_set.main, dict(path=link, percentage=5, backup=True), capsys)
    assert code == 0 and read(target) != old
    audit_log = str(tmp_path / 'audit.jsonl')
    code, result = run(file_restore.main, dict(path=link, backup=edit['backup_file'], audit_log=audit_log,
                                               audit_context={'playbook': 'rollback.yml'}), capsys)
    assert code == 0 and result['changed'] is True
    st = os.stat(target)
    assert read(target) == old and os.path.islink(link) and os.readlink(link) == target
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (SERVICE_USER, SERVICE_USER, 0o640)
    assert sorted(os.listdir(os.path.dirname(target))) == sorted(
        ['production.yaml', 'production.yaml.lock', os.path.basename(edit['backup_file'])])  # no temporary file left
    line = json.loads(read(audit_log))
    assert line['file'] == link and line['playbook'] == 'rollback.yml' and line['key'] == '(restored from %s)' % edit['backup_file']
    # again: nothing to do
    code, again = run(file_restore.main, dict(path=link, backup=edit['backup_file'], audit_log=audit_log), capsys)
    assert code == 0 and again['changed'] is False and len(read(audit_log).splitlines()) == 1


def test_check_mode_says_what_would_change_and_touches_nothing(capsys, tmp_path, linked):
    link, target = linked
    edit = run(rollout_set.main, dict(path=link, percentage=5, backup=True), capsys)[1]
    edited, listing = read(target), sorted(os.listdir(tmp_path / 'real'))
    code, result = run(file_restore.main, dict(path=link, backup=edit['backup_file']), capsys, check=True, diff=True)
    assert code == 0 and result['changed'] is True
    assert 'rollout_percentage: 5' in result['diff']['before'] and 'rollout_percentage: 100' in result['diff']['after']
    assert read(target) == edited and sorted(os.listdir(tmp_path / 'real')) == listing


@pytest.mark.parametrize('content, message', [
    (b'models: [unclosed\n', 'is not a valid file to restore: not YAML'),
    (b'- a list\n', 'is not a valid file to restore: not a YAML mapping but list'),
    (b'models:\n  rollout_percentage: \xff\n', 'is not a valid file to restore'),
])
def test_a_backup_that_does_not_parse_changes_nothing(capsys, linked, tmp_path, content, message):
    link, target = linked
    bad = tmp_path / 'production.yaml.bak'
    bad.write_bytes(content)
    old = read(target)
    code, result = run(file_restore.main, dict(path=link, backup=str(bad)), capsys)
    assert code == 1 and str(bad) in result['msg'] and message in result['msg'] and 'nothing changed' in result['msg']
    assert read(target) == old


def test_a_missing_backup_is_named(capsys, linked, tmp_path):
    code, result = run(file_restore.main, dict(path=linked[0], backup=str(tmp_path / 'gone.bak')), capsys)
    assert code == 1 and result['msg'].startswith('cannot read the backup %s: No such file' % (tmp_path / 'gone.bak'))


def test_an_env_file_comes_back_0600_and_its_keys_show_nowhere(capsys, tmp_path):
    env = tmp_path / 'genesis.env'
    env.write_text('# old: MISTRAL_API_KEY=%s\nMISTRAL_API_KEY=%s\nDB_PASSWORD=hunter2hunter2\n' % (NEW_KEY, KEY), encoding='utf-8')
    os.chown(env, SERVICE_USER, SERVICE_USER)
    os.chmod(env, 0o600)
    old = read(env)
    edit = run(api_key.main, dict(path=str(env), value=NEW_KEY, backup=True), capsys)[1]
    code, result = run(file_restore.main, dict(path=str(env), backup=edit['backup_file']), capsys, diff=True)
    st = os.stat(env)
    assert code == 0 and read(env) == old and (st.st_uid, st.st_mode & 0o7777) == (SERVICE_USER, 0o600)
    shown = json.dumps(result)
    assert KEY not in shown and NEW_KEY not in shown and 'hunter2hunter2' not in shown


# What `chcon` or `restorecon` leaves on a config on an SELinux host (root may set it where SELinux is off too)
CONTEXT = b'system_u:object_r:genesis_conf_t:s0\x00'


def attributes(path):
    return {name: os.getxattr(path, name) for name in os.listxattr(path)}


def test_the_selinux_context_and_user_attributes_survive_edit_backup_and_restore(capsys, tmp_path, linked):
    link, target = linked
    env = tmp_path / 'real' / 'genesis.env'
    env.write_text('MISTRAL_API_KEY=%s\n' % KEY, encoding='utf-8')
    for path in (target, str(env)):
        os.setxattr(path, 'security.selinux', CONTEXT)
        os.setxattr(path, 'user.site.managed-by', b'config-management')
    kept = {'security.selinux': CONTEXT, 'user.site.managed-by': b'config-management'}
    code, edit = run(rollout_set.main, dict(path=link, percentage=5, backup=True), capsys)
    assert code == 0 and attributes(target) == kept and attributes(edit['backup_file']) == kept
    code, result = run(file_restore.main, dict(path=link, backup=edit['backup_file']), capsys)
    assert code == 0 and result['changed'] and attributes(target) == kept
    code, result = run(api_key.main, dict(path=str(env), value=NEW_KEY, backup=True), capsys)
    assert code == 0 and result['changed'] and attributes(str(env)) == kept and attributes(result['backup_file']) == kept


def test_the_restore_is_audited_with_the_digests_of_both_contents(capsys, tmp_path, linked):
    """The audit line of a restore names the contents by digest (the first 16 hex digits of their SHA-256): the file
    may hold what must not be logged (an env file's key)."""
    link, target = linked
    old = read(target)
    edit = run(rollout_set.main, dict(path=link, percentage=5, backup=True), capsys)[1]
    edited = read(target)
    audit_log = str(tmp_path / 'audit.jsonl')
    code, _result = run(file_restore.main, dict(path=link, backup=edit['backup_file'], audit_log=audit_log), capsys)
    assert code == 0
    line = json.loads(read(audit_log))
    assert (line['before'], line['after']) == ('sha256:' + hashlib.sha256(edited).hexdigest()[:16],
                                               'sha256:' + hashlib.sha256(old).hexdigest()[:16])


@pytest.mark.parametrize('main, args', [(rollout_set.main, dict(percentage=5)), (file_restore.main, dict(backup='/nowhere'))])
def test_an_audit_context_may_not_rewrite_the_facts_of_the_change(capsys, tmp_path, linked, main, args):
    link, target = linked
    old = read(target)
    code, result = run(main, dict(args, path=link, audit_log=str(tmp_path / 'audit.jsonl'),
                                  audit_context={'playbook': 'rollback.yml', 'key': 'x', 'after': 1}), capsys)
    assert code == 1 and result['msg'] == 'audit_context may not set after, key: those record the change itself', result
    assert read(target) == old and not os.path.exists(tmp_path / 'audit.jsonl')
