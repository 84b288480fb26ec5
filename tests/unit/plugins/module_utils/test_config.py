# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The surgical YAML edit shared by rollout_set and finetuned_toggle."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import yaml

from ansible_collections.genesis.model_ops.plugins.module_utils import _yamledit
from ansible_collections.genesis.model_ops.plugins.module_utils._config import edit_config
from ansible_collections.genesis.model_ops.plugins.module_utils._files import ConfigError
from ansible_collections.genesis.model_ops.plugins.module_utils._yamledit import plan_edit

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'production.yaml')
COLLECTIONS = os.path.join(os.path.dirname(__file__), *(['..'] * 4), '.collections')

ROLLOUT = ['models', 'rollout_percentage']
GLOBAL = ['models', 'use_finetuned']


def agent(name):
    return ['models', 'agents', name, 'use_finetuned']


@pytest.fixture
def config(tmp_path):
    """A copy of the fixture; the path is real (no symlink in it) so lock and backup names are predictable."""
    path = os.path.realpath(str(tmp_path / 'production.yaml'))
    with open(FIXTURE, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data)
    return path


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def write(path, text):
    with open(path, 'wb') as f:
        f.write(text.encode('utf-8'))


def listing(path):
    return sorted(os.listdir(os.path.dirname(path)))


# --- each edit rewrites only the scalar (or inserts only the new entry) ---------------------

# (keys, value, unique text of the fixture around the change, the same text after it)
EDITS = [
    (ROLLOUT, 5, '  rollout_percentage: 100    #', '  rollout_percentage: 5    #'),
    (ROLLOUT, 0, '  rollout_percentage: 100    #', '  rollout_percentage: 0    #'),
    (GLOBAL, False, '  use_finetuned: true        # global', '  use_finetuned: false        # global'),
    (agent('qa_agent'), False, '      use_finetuned: true    # optional', '      use_finetuned: false    # optional'),
    # flow mapping with the key: only the scalar
    (agent('legal_agent'), True, 'baseline: open-mistral-7b, use_finetuned: false}', 'baseline: open-mistral-7b, use_finetuned: true}'),
    # flow mapping without it: ", use_finetuned: false" before the brace (and before the space in "{ ... }")
    (agent('support_agent'), False, '20240520:1c2d3e4f", baseline: open-mistral-7b}\n',
     '20240520:1c2d3e4f", baseline: open-mistral-7b, use_finetuned: false}\n'),
    (agent('content_agent'), False, 'params: *analyst_params }\n', 'params: *analyst_params, use_finetuned: false }\n'),
    # block mapping whose last key holds an anchored nested mapping, followed by a blank line and a comment
    (agent('analyst_agent'), False, '        max_tokens: 2048\n\n    # content',
     '        max_tokens: 2048\n      use_finetuned: false\n\n    # content'),
]


@pytest.mark.parametrize('keys, value, old, new', EDITS, ids=lambda x: '.'.join(x) if isinstance(x, list) else None)
def test_edit_rewrites_only_the_value(config, keys, value, old, new):
    before = read(config)
    assert before.count(old.encode()) == 1
    change = edit_config(config, keys, value)
    assert change.changed
    assert read(config) == before.replace(old.encode(), new.encode())
    assert _get(yaml.safe_load(read(config)), keys) == value
    assert change.key == '.'.join(keys)
    assert change.after == value


def _get(doc, keys):
    for key in keys:
        doc = doc[key]
    return doc


def test_before_is_old_value_or_none_when_absent(config):
    assert edit_config(config, ROLLOUT, 5).before == 100
    assert edit_config(config, agent('support_agent'), False).before is None


def test_structured_change_for_callers(config):
    change = edit_config(config, agent('qa_agent'), False)
    assert (change.path, change.key, change.before, change.after, change.backup_file) == (
        config, 'models.agents.qa_agent.use_finetuned', True, False, None)
    assert change.result() == dict(changed=True, path=config, key='models.agents.qa_agent.use_finetuned',
                                   before=True, after=False)
    diff = change.result(diff=True)['diff']
    assert diff == dict(before=change.before_text, after=change.after_text, before_header=config, after_header=config)
    assert diff['after'] == read(config).decode()


@pytest.mark.parametrize('old, value, new', [
    ('rollout_percentage: "100"', 5, 'rollout_percentage: "5"'),
    ("rollout_percentage: '100'", 5, "rollout_percentage: '5'"),
    ('rollout_percentage: &pct 100', 5, 'rollout_percentage: &pct 5'),
    ('rollout_percentage: !!int 100', 5, 'rollout_percentage: !!int 5'),
    ('rollout_percentage: 100   # c: "x"', 5, 'rollout_percentage: 5   # c: "x"'),
    ('rollout_percentage: 0x64', 50, 'rollout_percentage: 50'),
    ('use_finetuned: true', False, 'use_finetuned: false'),
    ('use_finetuned: True', False, 'use_finetuned: False'),
    ('use_finetuned: TRUE', False, 'use_finetuned: FALSE'),
    ('use_finetuned: yes', False, 'use_finetuned: no'),
    ('use_finetuned: On', False, 'use_finetuned: Off'),
    ('use_finetuned: no', True, 'use_finetuned: yes'),
    ("use_finetuned: 'true'", False, "use_finetuned: 'false'"),
    ('use_finetuned: "yes"', False, 'use_finetuned: "no"'),
    ('use_finetuned: &ft true', False, 'use_finetuned: &ft false'),
])
def test_scalar_styles_are_kept(old, value, new):
    text = 'server: {port: 8080}\nmodels:\n  %s\n  agents: {}\n' % old
    keys = ['models', old.split(':')[0]]
    new_text, _before, after = plan_edit(text, keys, value)
    assert new_text == text.replace(old, new)
    quoted = new.split(': ', 1)[1][0] in '"\''
    assert after == (new.split(': ', 1)[1].strip('"\'') if quoted else value)


@pytest.mark.parametrize('text, already', [
    ('models:\n  rollout_percentage: 5\n', 5),
    ('models:\n  rollout_percentage: "5"\n', '5'),
    ('models:\n  rollout_percentage: 0x5\n', 5),
])
def test_value_already_there_is_no_change(text, already):
    assert plan_edit(text, ROLLOUT, 5) == (text, already, already)


def test_bool_and_int_are_not_confused():
    # True == 1 in Python; a config that says true does not already hold 1.
    text = 'models:\n  rollout_percentage: true\n'
    assert plan_edit(text, ROLLOUT, 1)[0] == 'models:\n  rollout_percentage: 1\n'


@pytest.mark.parametrize('text, new', [
    # flow mappings: empty, trailing comma, spaces inside the braces, spread over lines
    ('models:\n  agents:\n    qa: {}\n', 'models:\n  agents:\n    qa: {use_finetuned: false}\n'),
    ('models:\n  agents:\n    qa: {a: 1,}\n', 'models:\n  agents:\n    qa: {a: 1, use_finetuned: false}\n'),
    ('models:\n  agents:\n    qa: { a: 1 }\n', 'models:\n  agents:\n    qa: { a: 1, use_finetuned: false }\n'),
    ('models:\n  agents:\n    qa: {a: 1,\n         b: 2}\n', 'models:\n  agents:\n    qa: {a: 1,\n         b: 2, use_finetuned: false}\n'),
    # block mappings: at the end of a file without a final newline, with CRLF, after a block scalar
    ('models:\n  agents:\n    qa:\n      a: 1', 'models:\n  agents:\n    qa:\n      a: 1\n      use_finetuned: false'),
    ('models:\r\n  agents:\r\n    qa:\r\n      a: 1  # c\r\n  x: 2\r\n',
     'models:\r\n  agents:\r\n    qa:\r\n      a: 1  # c\r\n      use_finetuned: false\r\n  x: 2\r\n'),
    ('models:\n  agents:\n    qa:\n      notes: |\n        one\n        two\n    b: {}\n',
     'models:\n  agents:\n    qa:\n      notes: |\n        one\n        two\n      use_finetuned: false\n    b: {}\n'),
    # the last value is an alias: its own text, not the anchor's, is what the new line follows
    ('x: &d {a: 1}\nmodels:\n  agents:\n    qa:\n      p: *d\n# end\n',
     'x: &d {a: 1}\nmodels:\n  agents:\n    qa:\n      p: *d\n      use_finetuned: false\n# end\n'),
    # a key inherited through a merge key gets its own override; the merged mapping is untouched
    ('d: &d {use_finetuned: true}\nmodels:\n  agents:\n    qa:\n      <<: *d\n      a: 1\n',
     'd: &d {use_finetuned: true}\nmodels:\n  agents:\n    qa:\n      <<: *d\n      a: 1\n      use_finetuned: false\n'),
])
def test_insert_in_the_mapping_style(text, new):
    assert plan_edit(text, agent('qa'), False) == (new, None, False)


def test_insert_a_missing_global_key_after_the_nested_agents():
    text = 'models:\n  use_finetuned: true\n  agents:\n    qa:\n      a: 1  # last\n\n# trailer\nother: 1\n'
    new = 'models:\n  use_finetuned: true\n  agents:\n    qa:\n      a: 1  # last\n  rollout_percentage: 5\n\n# trailer\nother: 1\n'
    assert plan_edit(text, ROLLOUT, 5) == (new, None, 5)


def test_unicode_and_bom_are_kept(tmp_path):
    path = str(tmp_path / 'p.yaml')
    text = '\ufeff# café ☕\nmodels:\n  owner: "Zoë"\n  rollout_percentage: 100\n'
    write(path, text)
    edit_config(path, ROLLOUT, 7)
    assert read(path) == text.replace('100', '7').encode('utf-8')


# --- refusals: a clear message, and the file as it was -----------------------------------

REFUSALS = [
    ('models: [\n', ROLLOUT, r'not valid YAML'),
    ('a: 1\n---\nb: 2\n', ROLLOUT, r'not valid YAML.*single document'),
    ('', ROLLOUT, r'the document is empty, not a mapping'),
    ('- a\n', ROLLOUT, r'the document is a list, not a mapping'),
    ('server: {port: 1}\nlogging: {}\n', ROLLOUT, r"no 'models' at the top level \(there: server, logging\)"),
    ('models: [a, b]\n', ROLLOUT, r'models is a list, not a mapping'),
    ('models: off\n', ROLLOUT, r"models is the value 'off', not a mapping"),
    ('models:\n', ROLLOUT, r'models is null, not a mapping'),
    ('models:\n  rollout_percentage: [5]\n', ROLLOUT, r'models.rollout_percentage is a list, not a single value'),
    ('models:\n  use_finetuned: {a: 1}\n', GLOBAL, r'models.use_finetuned is a mapping, not a single value'),
    ('models:\n  use_finetuned:\n  x: 1\n', GLOBAL, r'models.use_finetuned has no value'),
    ('models:\n  use_finetuned: |\n    true\n', GLOBAL, r'block scalar'),
    ('models:\n  use_finetuned: !!str true\n', GLOBAL, r"would give 'false', not False"),
    ('models:\n  agents:\n    qa: {}\n    legal: {}\n', agent('bogus'),
     r"no 'bogus' under models.agents \(there: qa, legal\)"),
    ('models:\n  use_finetuned: true\n', agent('qa'), r"no 'agents' under models \(there: use_finetuned\)"),
    ('models:\n  agents:\n    qa: null\n', agent('qa'), r'models.agents.qa is null, not a mapping'),
    # anchors: a change here would change every alias too
    ('models:\n  use_finetuned: &on true\nmetrics: {enabled: *on}\n', GLOBAL, r'models.use_finetuned is shared .*line 2'),
    ('on: &on true\nmodels:\n  use_finetuned: *on\n', GLOBAL, r'models.use_finetuned is shared .*line 1'),
    ('models:\n  agents:\n    qa: &qa {use_finetuned: true}\n    legal: *qa\n', agent('qa'), r'models.agents.qa is shared'),
    ('models:\n  agents:\n    qa: &qa {a: 1}\n    legal: {<<: *qa}\n', agent('qa'), r'models.agents.qa is shared'),
]


@pytest.mark.parametrize('text, keys, message', REFUSALS)
def test_refusal_changes_nothing(tmp_path, text, keys, message):
    path = str(tmp_path / 'production.yaml')
    write(path, text)
    files = listing(path)
    with pytest.raises(ConfigError, match=message) as exc:
        edit_config(path, keys, False if keys[-1] == 'use_finetuned' else 5, backup=True)
    assert str(exc.value).startswith(path + ': ')
    assert read(path) == text.encode()
    assert listing(path) == files  # no lock, backup or temporary file



# (keys, value, what a faulty rewrite adds, the second value it would change): a replaced scalar, an inserted entry
LEAKS = [(ROLLOUT, 5, '\n  server_port: 1', 'models.server_port'),
         (agent('support_agent'), False, ', server_port: 1', 'models.agents.support_agent.server_port')]


@pytest.mark.parametrize('keys, value, leak, other', LEAKS, ids=['replaced', 'inserted'])
def test_a_rewrite_that_would_change_more_than_the_one_value_is_refused(config, monkeypatch, keys, value, leak, other):
    # The re-parse guard: should the text rewrite ever change a second value, the edit is refused and
    # the file stays as it was. The fault is injected in the rendering; the right value still lands,
    # so only the comparison of the old and new documents sees it.
    real_render = _yamledit._render

    def leaky_render(*args):
        token, intended = real_render(*args)
        return token + leak, intended
    monkeypatch.setattr(_yamledit, '_render', leaky_render)
    text = read(config)
    dotted = '.'.join(keys)
    with pytest.raises(ConfigError, match=re.escape('the edit of %s would change %s, %s; nothing written' % (dotted, dotted, other))):
        edit_config(config, keys, value, backup=True)
    assert read(config) == text and listing(config) == ['production.yaml']

def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.yaml')
    with pytest.raises(ConfigError, match=r'^%s does not exist$' % re.escape(path)):
        edit_config(path, ROLLOUT, 5)
    assert os.listdir(str(tmp_path)) == []


def test_dangling_symlink(tmp_path):
    link = str(tmp_path / 'link.yaml')
    os.symlink(str(tmp_path / 'gone.yaml'), link)
    with pytest.raises(ConfigError, match='does not exist'):
        edit_config(link, ROLLOUT, 5)


def test_not_utf8(tmp_path):
    path = str(tmp_path / 'p.yaml')
    with open(path, 'wb') as f:
        f.write(b'models:\n  owner: "Zo\xeb"\n  rollout_percentage: 100\n')
    with pytest.raises(ConfigError, match='not UTF-8'):
        edit_config(path, ROLLOUT, 5)


@pytest.mark.skipif(os.geteuid() != 0, reason='changing a file owner needs root')
def test_owner_that_cannot_be_kept_is_refused(config, monkeypatch):
    os.chown(config, 1234, 2345)
    before, files = read(config), listing(config)

    def fchown(*_args):
        raise PermissionError(1, 'Operation not permitted')
    monkeypatch.setattr(os, 'fchown', fchown)
    with pytest.raises(ConfigError, match=r'cannot keep the owner 1234:2345 of .* run it with become'):
        edit_config(config, ROLLOUT, 5, backup=True)
    assert read(config) == before
    assert listing(config) == sorted(files + [os.path.basename(config) + '.lock'])  # no backup, no temporary file


# --- check mode, idempotence, backup, symlink, owner and mode --------------------------------

def test_check_mode_writes_nothing(config):
    before, mtime, files = read(config), os.stat(config).st_mtime_ns, listing(config)
    change = edit_config(config, agent('support_agent'), False, check_mode=True, backup=True)
    assert change.changed and change.before is None and change.after is False
    assert change.backup_file is None
    assert read(config) == before
    assert os.stat(config).st_mtime_ns == mtime
    assert listing(config) == files
    # and it reports exactly what the run then does
    real = edit_config(config, agent('support_agent'), False)
    assert (real.changed, real.key, real.before, real.after, real.after_text) == (
        change.changed, change.key, change.before, change.after, change.after_text)


def test_second_run_changes_nothing(config):
    assert edit_config(config, agent('analyst_agent'), False).changed
    data, mtime, files = read(config), os.stat(config).st_mtime_ns, listing(config)
    time.sleep(0.01)
    again = edit_config(config, agent('analyst_agent'), False, backup=True)
    assert not again.changed
    assert again.before is False and again.after is False
    assert again.after_text == again.before_text
    assert read(config) == data
    assert os.stat(config).st_mtime_ns == mtime
    assert listing(config) == files  # no backup of an unchanged file


def test_backup_is_the_old_file(config):
    os.chmod(config, 0o640)
    old, st = read(config), os.stat(config)
    change = edit_config(config, ROLLOUT, 5, backup=True)
    backup = change.backup_file
    assert re.match(re.escape(config) + r'\.\d{8}T\d{12}Z\.bak$', backup)
    assert read(backup) == old
    assert os.stat(backup).st_mode == st.st_mode
    assert os.stat(backup).st_mtime_ns == st.st_mtime_ns
    assert change.result()['backup_file'] == backup


def test_a_change_appends_one_audit_line(config, tmp_path):
    import json  # pylint: disable=import-outside-toplevel
    log = str(tmp_path / 'logs' / 'model_ops_audit.jsonl')
    context = {'playbook': 'rollback.yml', 'user': 'oncall', 'job': '42'}
    change = edit_config(config, ROLLOUT, 5, backup=True, audit_log=log, audit_context=context)
    with open(log, encoding='utf-8') as f:
        lines = [json.loads(line) for line in f]
    assert lines == [change.audit] and change.result()['audit'] == change.audit
    entry = lines[0]
    assert {k: entry[k] for k in ('playbook', 'user', 'job', 'file', 'key', 'before', 'after', 'backup')} == dict(
        context, file=config, key='models.rollout_percentage', before=100, after=5, backup=change.backup_file)
    assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$', entry['at'])
    assert oct(os.stat(log).st_mode & 0o777) == '0o640'
    # no change, and check mode: no line
    edit_config(config, ROLLOUT, 5, audit_log=log, audit_context=context)
    edit_config(config, ROLLOUT, 7, check_mode=True, audit_log=log, audit_context=context)
    change = edit_config(config, GLOBAL, False, audit_log=log)
    with open(log, encoding='utf-8') as f:
        lines = [json.loads(line) for line in f]
    assert len(lines) == 2 and lines[1]['key'] == 'models.use_finetuned' and lines[1]['backup'] is None


def unwritable_audit_logs(tmp_path):
    """Audit log paths that cannot be written even by root: under a file, a directory, a FIFO."""
    blocker = tmp_path / 'not-a-dir'
    blocker.write_text('', encoding='utf-8')
    folder = tmp_path / 'a-dir.jsonl'
    folder.mkdir()
    fifo = tmp_path / 'fifo.jsonl'
    os.mkfifo(str(fifo))
    return [(str(blocker / 'audit.jsonl'), 'Not a directory'), (str(folder), 'Is a directory'),
            (str(fifo), 'No such device or address')]


def test_an_audit_log_that_cannot_be_written_stops_the_change_before_it_is_made(config, tmp_path):
    logs = unwritable_audit_logs(tmp_path)
    before, files = read(config), listing(config)
    for log, why in logs:
        with pytest.raises(ConfigError) as exc:
            edit_config(config, ROLLOUT, 5, backup=True, audit_log=log)
        assert str(exc.value) == 'cannot write the audit log %s: %s; nothing changed' % (log, why)
        assert read(config) == before  # byte for byte
        assert listing(config) == sorted(files + [os.path.basename(config) + '.lock'])  # no backup, no temporary file


def test_a_symlinked_audit_log_is_not_written_through(config, tmp_path):
    target = tmp_path / 'elsewhere.txt'
    target.write_bytes(b'not an audit log\n')
    log = tmp_path / 'audit.jsonl'
    os.symlink(str(target), str(log))
    before = read(config)
    with pytest.raises(ConfigError, match=r'^cannot write the audit log %s: it is a symbolic link, which is not followed; '
                                          r'nothing changed$' % re.escape(str(log))):
        edit_config(config, ROLLOUT, 5, audit_log=str(log))
    assert target.read_bytes() == b'not an audit log\n' and os.path.islink(str(log))
    assert read(config) == before


def test_an_audit_line_that_cannot_be_appended_after_the_change_fails_loudly(config, tmp_path, monkeypatch):
    # the log opened fine, then the disk filled up: the change is made, and the message says so
    def disk_full(fd, data):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'write', disk_full)
    with pytest.raises(ConfigError, match=r'changed \(models.rollout_percentage: 100 -> 5\) but the audit log .* could not be '
                                          r'written: No space left on device'):
        edit_config(config, ROLLOUT, 5, audit_log=str(tmp_path / 'audit.jsonl'))


def test_symlink_is_followed_and_kept(tmp_path, config):
    link = str(tmp_path / 'current.yaml')
    os.symlink(os.path.basename(config), link)
    change = edit_config(link, ROLLOUT, 5, backup=True)
    assert change.path == link
    assert os.path.islink(link) and os.readlink(link) == os.path.basename(config)
    assert b'rollout_percentage: 5 ' in read(config)
    assert os.path.dirname(change.backup_file) == os.path.dirname(config)
    assert change.backup_file.startswith(config + '.')
    assert os.path.exists(config + '.lock')


@pytest.mark.skipif(os.geteuid() != 0, reason='changing a file owner needs root')
def test_owner_and_mode_are_kept(config):
    os.chown(config, 1234, 2345)
    os.chmod(config, 0o604)
    change = edit_config(config, GLOBAL, False, backup=True)
    for path in (config, change.backup_file):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 2345, 0o604)


def test_mode_is_kept(config):
    os.chmod(config, 0o600)
    edit_config(config, GLOBAL, False)
    assert os.stat(config).st_mode & 0o7777 == 0o600


def test_no_temporary_file_is_left(config):
    files = listing(config)
    edit_config(config, ROLLOUT, 5)
    assert listing(config) == sorted(files + [os.path.basename(config) + '.lock'])


# --- the lock ---------------------------------------------------------------------------------

def hold_lock(path):
    fd = os.open(path + '.lock', os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_held_lock_makes_a_run_wait_then_fail(config):
    before = read(config)
    fd = hold_lock(config)
    try:
        start = time.monotonic()
        with pytest.raises(ConfigError) as exc:
            edit_config(config, ROLLOUT, 5, lock_timeout=0.5)
        assert time.monotonic() - start >= 0.5
    finally:
        os.close(fd)
    assert str(exc.value) == 'timed out after 0.5s waiting for the lock on %s: another run holds %s.lock' % (config, config)
    assert read(config) == before


def test_run_waits_for_the_lock_then_edits(config):
    fd = hold_lock(config)
    threading.Timer(0.3, os.close, [fd]).start()
    start = time.monotonic()
    assert edit_config(config, ROLLOUT, 5, lock_timeout=10).changed
    assert time.monotonic() - start >= 0.3


def test_check_mode_takes_no_lock(config):
    fd = hold_lock(config)
    try:
        assert edit_config(config, ROLLOUT, 5, check_mode=True, lock_timeout=0).changed
    finally:
        os.close(fd)


CHILD = textwrap.dedent('''
    import sys
    from ansible_collections.genesis.model_ops.plugins.module_utils._config import edit_config
    path, agent, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    keys = ['models', 'agents', agent, 'use_finetuned']
    last = edit_config(path, keys, True).after
    for i in range(count):
        change = edit_config(path, keys, i % 2 == 0)
        # Only this process writes this key: reading anything but its own last value means a lost update.
        if change.before is not last:
            sys.exit('%s: expected %r before run %d, found %r' % (agent, last, i, change.before))
        last = change.after
''')


def child_env():
    return dict(os.environ, PYTHONPATH=os.path.abspath(COLLECTIONS))


def test_concurrent_runs_lose_no_update(config):
    count = 40
    children = [subprocess.Popen([sys.executable, '-c', CHILD, config, name, str(count)], env=child_env(),
                                 stderr=subprocess.PIPE, text=True)
                for name in ('qa_agent', 'support_agent')]
    for child in children:
        assert child.wait(timeout=300) == 0, child.stderr.read()
        child.stderr.close()
    doc = yaml.safe_load(read(config))
    final = (count - 1) % 2 == 0  # what the last run of each child set
    assert doc['models']['agents']['qa_agent']['use_finetuned'] is final
    assert doc['models']['agents']['support_agent']['use_finetuned'] is final


# --- what a run killed while writing leaves (kill -9 itself: tests/faults/test_kill_9.py) ---------------------

def test_an_edit_removes_the_temporary_files_a_killed_run_left_and_nothing_else(tmp_path, config):
    folder = os.path.dirname(config)
    stale = ['.production.yaml.a1b2c3d4.tmp', '.production.yaml.20261129T101010123456Z.bak.zz_9y8x7.tmp']
    kept = ['.production.yaml.notes.tmp', 'production.yaml.a1b2c3d4.tmp', '.production.yaml.a1b2c3d4.tmp.keep',
            '.other.yaml.a1b2c3d4.tmp', 'production.yaml.20261129T101010123456Z.bak']
    for name in stale + kept:
        write(os.path.join(folder, name), 'x')
    os.symlink(config, os.path.join(folder, '.production.yaml.q1w2e3r4.tmp'))  # not a file of ours: left alone
    edit_config(config, ROLLOUT, 7)
    left = set(os.listdir(folder))
    assert not left & set(stale) and set(kept) | {'.production.yaml.q1w2e3r4.tmp'} <= left
