# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Setting the API key in an env file: only that line, mode 0600, backup, audit, and never the key in the result."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils._files import ConfigError
from ansible_collections.genesis.model_ops.plugins.module_utils._envfile import fingerprint, set_value

OLD = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'
NEW = 'Hs8dJ2kL5mN7pQ9rT1vW3xY6zA4bC0eF'
TEXT = '# genesis-orchestrator environment\nLOG_LEVEL=info\nexport MISTRAL_API_KEY="%s"\nREGION=eu\n' % OLD


@pytest.fixture
def env(tmp_path):
    path = tmp_path / 'genesis.env'
    path.write_text(TEXT, encoding='utf-8')
    os.chmod(path, 0o644)
    return path


def test_only_the_key_line_changes_and_the_file_is_0600(env, tmp_path):
    log = tmp_path / 'audit.jsonl'
    result = set_value(str(env), 'MISTRAL_API_KEY', NEW, backup=True, audit_log=str(log), audit_context={'playbook': 'p'})
    assert env.read_text(encoding='utf-8') == TEXT.replace('"%s"' % OLD, NEW)
    assert oct(env.stat().st_mode & 0o777) == '0o600'
    assert (result['changed'], result['fingerprint_before'], result['fingerprint_after']) == (True, fingerprint(OLD), fingerprint(NEW))
    backup = result['backup_file']
    assert open(backup, encoding='utf-8').read() == TEXT and oct(os.stat(backup).st_mode & 0o777) == '0o600'
    entry = json.loads(log.read_text(encoding='utf-8'))
    assert (entry['key'], entry['before'], entry['after'], entry['playbook']) == ('MISTRAL_API_KEY', fingerprint(OLD), fingerprint(NEW), 'p')
    text = json.dumps(result) + log.read_text(encoding='utf-8')
    assert OLD not in text and NEW not in text
    assert 'MISTRAL_API_KEY=<sha256:%s>' % fingerprint(NEW) in result['diff']['after']
    # again: nothing to do
    again = set_value(str(env), 'MISTRAL_API_KEY', NEW, audit_log=str(log))
    assert again['changed'] is False and len(log.read_text(encoding='utf-8').splitlines()) == 1


OTHERS = {'DB_PASSWORD': 'hunter2-db-pass', 'HF_TOKEN': 'hf_sTr0ngT0kenValue', 'DATABASE_URL': 'postgres://app:pg-secret-9@db/app',
          'WEBHOOK': 'https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX', 'SMTP_AUTH': 'Basic dXNlcjpwYXNz'}


def test_the_diff_shows_no_other_secret_of_the_env_file(tmp_path):
    path = tmp_path / 'genesis.env'
    path.write_text('# retired 2025-01: MISTRAL_API_KEY=%s\nMISTRAL_API_KEY=%s\n%s' % (NEW, OLD, ''.join(
        '%s=%s\n' % item for item in OTHERS.items())), encoding='utf-8')
    result = set_value(str(path), 'MISTRAL_API_KEY', NEW, check_mode=True)
    shown = json.dumps(result)
    leaked = [value for value in list(OTHERS.values()) + [OLD, NEW] if value in shown]
    assert leaked == [] and 'MISTRAL_API_KEY=<sha256:%s>' % fingerprint(NEW) in result['diff']['after']
    assert 'DB_PASSWORD=' in result['diff']['before'] and 'postgres://app:' in result['diff']['after']  # masked, not removed


def test_check_mode_and_a_loose_mode_alone(env):
    before = env.read_bytes()
    result = set_value(str(env), 'MISTRAL_API_KEY', OLD, check_mode=True)
    assert result['changed'] is True  # the key is there, but the file is 0644: it would become 0600
    assert env.read_bytes() == before and oct(env.stat().st_mode & 0o777) == '0o644'
    set_value(str(env), 'MISTRAL_API_KEY', OLD)
    assert env.read_bytes() == before and oct(env.stat().st_mode & 0o777) == '0o600'


def test_a_missing_file_is_created_0600_and_a_missing_line_appended(tmp_path):
    path = tmp_path / 'genesis.env'
    set_value(str(path), 'MISTRAL_API_KEY', NEW)
    assert path.read_text(encoding='utf-8') == 'MISTRAL_API_KEY=%s\n' % NEW and oct(path.stat().st_mode & 0o777) == '0o600'
    other = tmp_path / 'other.env'
    other.write_text('A=1', encoding='utf-8')
    set_value(str(other), 'MISTRAL_API_KEY', NEW)
    assert other.read_text(encoding='utf-8') == 'A=1\nMISTRAL_API_KEY=%s\n' % NEW


@pytest.mark.parametrize('name,value,message', [
    ('MISTRAL API', NEW, 'name=MISTRAL API is not allowed'),
    ('MISTRAL_API_KEY', '', 'the value for MISTRAL_API_KEY is not allowed'),
    ('MISTRAL_API_KEY', NEW + '\nEVIL=1', 'the value for MISTRAL_API_KEY is not allowed'),
    ('MISTRAL_API_KEY', ' \n\t', 'the value for MISTRAL_API_KEY is not allowed'),
    ('MISTRAL_API_KEY', NEW + '\x1b[2J', 'the value for MISTRAL_API_KEY is not allowed'),
])
def test_bad_input_changes_nothing(env, name, value, message):
    before = env.read_bytes()
    with pytest.raises(ConfigError, match=message) as err:
        set_value(str(env), name, value)
    assert NEW not in str(err.value) and env.read_bytes() == before


@pytest.mark.parametrize('given', [NEW + '\n', ' %s ' % NEW, '\t%s\r\n' % NEW])
def test_a_key_is_set_without_its_surrounding_whitespace(env, given):
    # what `ansible-vault encrypt_string` from stdin, or a key pasted from a terminal, gives: the key the API takes
    # (mistral_check strips it the same way), not a refusal after the key was checked
    set_value(str(env), 'MISTRAL_API_KEY', given)
    assert 'export MISTRAL_API_KEY=%s\n' % NEW in env.read_text(encoding='utf-8')


def test_an_audit_log_that_cannot_be_written_changes_nothing(env, tmp_path):
    target = tmp_path / 'elsewhere.txt'
    target.write_bytes(b'keep me\n')
    link = tmp_path / 'audit.jsonl'
    os.symlink(str(target), str(link))
    before = env.read_bytes()
    for log, why in ((link, 'it is a symbolic link, which is not followed'), (tmp_path, 'Is a directory')):
        with pytest.raises(ConfigError) as err:
            set_value(str(env), 'MISTRAL_API_KEY', NEW, backup=True, audit_log=str(log))
        assert str(err.value) == 'cannot write the audit log %s: %s; nothing changed' % (log, why)
        assert env.read_bytes() == before and oct(env.stat().st_mode & 0o777) == '0o644'
    assert target.read_bytes() == b'keep me\n'
    assert sorted(os.listdir(str(tmp_path))) == ['audit.jsonl', 'elsewhere.txt', 'genesis.env', 'genesis.env.lock']
