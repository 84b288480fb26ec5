# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rollout_set and finetuned_toggle for real: ansible-playbook (through ansible-runner) over the lab's ssh,
on the lab hosts' own production.yaml (rendered from lab/templates/production.yaml), nothing mocked.

Every expected file is computed here from the old bytes, and compared whole. Every test puts the
files it touched back (bytes, and no backup, lock or temp file left) so the next test sees the lab as it was.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import json
import os
import re
import secrets
import string
import sys
import threading
import time

import pytest
import yaml

from lab import paths
from lab.catalog import LAB_AGENTS
from tests.conftest import wait_until
from tests.integration.conftest import run_playbook

SUPPORT_FT = LAB_AGENTS['support_agent']['finetuned']
ROLLOUT_LINE = '  rollout_percentage: 100    # 0..100, share of requests sent to fine-tuned models\n'
GLOBAL_LINE = '  use_finetuned: true        # global switch: false puts every agent on its baseline\n'
QA_LINE = '      use_finetuned: true    # optional per-agent override, default true\n'
SUPPORT_LINE = "    support_agent: {finetuned: '%s', baseline: *ministral_8b}\n" % SUPPORT_FT


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def replace_once(text, old, new):
    """text with its one occurrence of old replaced by new (the test's own expectation of an edit)."""
    assert text.count(old) == 1, 'expected exactly one %r in the file' % old
    return text.replace(old, new)


def changed_lines(before, after):
    """The -/+ lines of a diff between two texts, as (sign, line without its newline)."""
    return [(line[0], line[1:].rstrip('\n')) for line in difflib.unified_diff(
        before.splitlines(True), after.splitlines(True), n=0) if line[:1] in ('-', '+') and line[:3] not in ('---', '+++')]


def shown_diff_lines(stdout):
    """The -/+ lines of the diffs ansible-playbook printed."""
    return [(line[0], line[1:]) for line in stdout.splitlines() if line[:1] in ('-', '+') and line[:3] not in ('---', '+++')]


def listing(path):
    return sorted(os.listdir(os.path.dirname(path)))


def one(result, host):
    """The result of a task on one host, after checking it ran there only."""
    assert list(result) == [host], result
    return result[host]


def leaked(result, *keys):
    """Where each key (or, for a long key, a part of 12 characters) shows in a run's output, events or results,
    as (place, fingerprint of the key): the failure message must not print the key either."""
    texts = dict(stdout=result.stdout, events=json.dumps(result.events, default=str),
                 results=json.dumps(result.results, default=str))
    found = set()
    for key in keys:
        parts = [key] + ([key[:12], key[len(key) // 2 - 6:][:12], key[-12:]] if len(key) >= 24 else [])
        found.update((place, hashlib.sha256(key.encode()).hexdigest()[:8])
                     for place, text in texts.items() for part in parts if part in text)
    return sorted(found)


@pytest.fixture
def play(lab):
    """run_playbook with the venv's ansible-playbook on PATH (pytest may run as .venv/bin/python
    without it); the lab's fleet key must show nowhere in any run."""
    with open(paths.keys_file(lab.fleet.state), encoding='utf-8') as f:
        fleet_key = json.load(f)['fleet']

    def go(*args, **kwargs):
        kwargs['envvars'] = dict(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get('PATH', '')]))
        result = run_playbook(*args, **kwargs)
        where = leaked(result, fleet_key)
        assert not where, 'the fleet key leaked'
        return result
    return go


@pytest.fixture
def restore(lab):
    """Every lab host's config directory put back as it was after the test: production.yaml's bytes,
    and nothing new (backups, lock files) beside it."""
    saved = {h.name: (str(h.config), read(h.config), listing(str(h.config))) for h in lab.hosts}
    yield lab
    for path, data, names in saved.values():
        if read(path) != data:
            write(path, data)
        for name in set(listing(path)) - set(names):
            os.unlink(os.path.join(os.path.dirname(path), name))


# --- 1. the sysctl pattern: check, apply, check again, apply again ------------------------------------

EDITORS = {
    # id: (host index, extravars, old line, new line, before, after)
    'rollout_set': (0, dict(editors=['rollout_set'], percentage=5),
                    ROLLOUT_LINE, ROLLOUT_LINE.replace(': 100 ', ': 5 '), 100, 5),
    'finetuned_toggle-global': (1, dict(editors=['finetuned_toggle'], enabled=False),
                                GLOBAL_LINE, GLOBAL_LINE.replace(': true ', ': false '), True, False),
    'finetuned_toggle-qa_agent-block': (2, dict(editors=['finetuned_toggle'], enabled=False, agent='qa_agent'),
                                        QA_LINE, QA_LINE.replace(': true ', ': false '), True, False),
    'finetuned_toggle-support_agent-flow': (3, dict(editors=['finetuned_toggle'], enabled=False, agent='support_agent'),
                                            SUPPORT_LINE, SUPPORT_LINE.replace('}\n', ', use_finetuned: false}\n'), None, False),
}
TASK = {'rollout_set': 'Set the rollout percentage', 'finetuned_toggle': 'Toggle the fine-tuned models'}


@pytest.mark.parametrize('case', list(EDITORS))
def test_check_apply_check_apply(play, restore, case):
    index, extravars, old_line, new_line, before, after = EDITORS[case]
    host = restore.hosts[index]
    path = str(host.config)
    task = TASK[extravars['editors'][0]]
    old, old_names, old_stat = read(path), listing(path), os.stat(path)
    expected = replace_once(old.decode(), old_line, new_line).encode()
    exact_change = [('-', old_line.rstrip('\n')), ('+', new_line.rstrip('\n'))]

    # check mode: what would change, shown exactly, and nothing written (not even a lock or backup)
    run = play('config_editors/edit.yml', extravars=dict(extravars, backup=True), check=True, diff=True, limit=host.name)
    assert run.rc == 0, run.stdout
    res = one(run.task(task), host.name)
    assert (res['changed'], res['path'], res['before'], res['after']) == (True, path, before, after)
    assert 'backup_file' not in res
    assert res['diff']['before'] == old.decode()  # the lab's file has nothing secret-looking to mask
    assert changed_lines(res['diff']['before'], res['diff']['after']) == exact_change
    assert shown_diff_lines(run.stdout) == exact_change
    assert read(path) == old
    assert os.stat(path).st_mtime_ns == old_stat.st_mtime_ns
    assert listing(path) == old_names
    assert run.changed_hosts() == [host.name]

    # apply, with a backup: only the scalar changes, the backup is the old file
    run = play('config_editors/edit.yml', extravars=dict(extravars, backup=True), diff=True, limit=host.name)
    assert run.rc == 0, run.stdout
    res = one(run.task(task), host.name)
    assert (res['changed'], res['before'], res['after']) == (True, before, after)
    assert changed_lines(res['diff']['before'], res['diff']['after']) == exact_change
    assert shown_diff_lines(run.stdout) == exact_change
    assert read(path) == expected
    backup = res['backup_file']
    assert os.path.dirname(backup) == os.path.dirname(path)
    assert re.fullmatch(r'production\.yaml\.\d{8}T\d{12}Z\.bak', os.path.basename(backup)), backup
    assert read(backup) == old
    assert os.stat(backup).st_mtime_ns == old_stat.st_mtime_ns
    assert sorted(set(listing(path)) - set(old_names)) == sorted([os.path.basename(backup), 'production.yaml.lock'])
    assert os.stat(path).st_mode == old_stat.st_mode
    assert run.changed_hosts() == [host.name]

    # check again, apply again: nothing to do, nothing touched
    applied_stat, applied_names = os.stat(path), listing(path)
    for check in (True, False):
        run = play('config_editors/edit.yml', extravars=dict(extravars, backup=True), check=check, diff=True, limit=host.name)
        assert run.rc == 0, run.stdout
        res = one(run.task(task), host.name)
        assert (res['changed'], res['before'], res['after']) == (False, after, after)
        assert 'backup_file' not in res
        assert res['diff']['before'] == res['diff']['after'] == expected.decode()
        assert shown_diff_lines(run.stdout) == []
        assert run.changed_hosts() == []
        assert read(path) == expected
        assert os.stat(path).st_mtime_ns == applied_stat.st_mtime_ns
        assert listing(path) == applied_names


def test_all_hosts_then_a_limited_subset(play, restore):
    hosts = restore.hosts
    names = [h.name for h in hosts]
    old = {h.name: read(h.config) for h in hosts}

    run = play('config_editors/edit.yml', extravars=dict(editors=['rollout_set'], percentage=30), check=True)
    assert run.rc == 0, run.stdout
    assert run.changed_hosts() == names
    assert {h: r['after'] for h, r in run.task(TASK['rollout_set']).items()} == dict.fromkeys(names, 30)
    assert {h.name: read(h.config) for h in hosts} == old

    run = play('config_editors/edit.yml', extravars=dict(editors=['rollout_set'], percentage=30))
    assert run.rc == 0, run.stdout
    assert run.changed_hosts() == names
    at_30 = {h.name: replace_once(old[h.name].decode(), ROLLOUT_LINE, ROLLOUT_LINE.replace(': 100 ', ': 30 ')).encode()
             for h in hosts}
    assert {h.name: read(h.config) for h in hosts} == at_30
    stats = {h.name: os.stat(h.config).st_mtime_ns for h in hosts}

    subset = [hosts[1].name, hosts[4].name]
    run = play('config_editors/edit.yml', extravars=dict(editors=['finetuned_toggle'], enabled=False), limit=','.join(subset))
    assert run.rc == 0, run.stdout
    assert run.changed_hosts() == subset
    assert sorted(run.task(TASK['finetuned_toggle'])) == subset
    for h in hosts:
        if h.name in subset:
            assert read(h.config) == replace_once(at_30[h.name].decode(), GLOBAL_LINE, GLOBAL_LINE.replace(': true ', ': false ')).encode()
        else:
            assert read(h.config) == at_30[h.name]
            assert os.stat(h.config).st_mtime_ns == stats[h.name]


# --- 2. the host reads the change ------------------------------------------------------------------

def restart(lab, host):
    pid = host.pid()
    lab.cli('restart', '--hosts', host.name)
    assert host.pid() not in (None, pid)
    code, body = lab.health(host)
    assert code in (200, 503), body
    return body


def test_the_host_serves_what_the_file_says(play, clean_lab, restore):
    lab, host = clean_lab, clean_lab.hosts[5]
    old = read(host.config)
    try:
        run = play('config_editors/edit.yml', extravars=dict(editors=['rollout_set'], percentage=0), limit=host.name)
        assert run.rc == 0 and run.changed_hosts() == [host.name], run.stdout
        health = restart(lab, host)
        assert health['config']['rollout_percentage'] == 0
        assert {a: s['model'] for a, s in health['agents'].items()} == {a: m['baseline'] for a, m in LAB_AGENTS.items()}

        write(host.config, old)
        run = play('config_editors/edit.yml', extravars=dict(editors=['finetuned_toggle'], agent='qa_agent', enabled=False),
                   limit=host.name)
        assert run.rc == 0 and run.changed_hosts() == [host.name], run.stdout
        health = restart(lab, host)
        assert health['config']['rollout_percentage'] == 100
        assert {a: s['model'] for a, s in health['agents'].items()} == {
            a: m['baseline'] if a == 'qa_agent' else m['finetuned'] for a, m in LAB_AGENTS.items()}
    finally:
        write(host.config, old)
        health = restart(lab, host)
    assert {a: s['model'] for a, s in health['agents'].items()} == {a: m['finetuned'] for a, m in LAB_AGENTS.items()}
    wait_until(lambda: lab.health(host)[1].get('status') == 'ok', 30, what='%s healthy again' % host.name)


# --- 3. bad input --------------------------------------------------------------------------------

def test_bad_input_fails_clearly_and_changes_nothing(play, restore, tmp_path):
    host = restore.hosts[6]
    path = str(host.config)
    old, old_names = read(path), listing(path)
    text = old.decode()
    missing = str(tmp_path / 'missing' / 'production.yaml')
    malformed = tmp_path / 'malformed.yaml'
    malformed.write_text(replace_once(text, ROLLOUT_LINE, '  rollout_percentage: [100\n'), encoding='utf-8')
    no_models = tmp_path / 'no_models.yaml'
    no_models.write_text(re.sub(r'(?ms)^models:\n.*?(?=^requests:)', '', text), encoding='utf-8')
    assert 'models' not in yaml.safe_load(no_models.read_text(encoding='utf-8'))
    copies = {str(p): p.read_bytes() for p in (malformed, no_models)}

    run = play('config_editors/bad_input.yml', limit=host.name, extravars=dict(
        bad_percentages=[150, -1, 5.5, 'abc'], bad_files=[missing, str(malformed), str(no_models)]))
    assert run.rc == 0, run.stdout  # every refusal is ignored; the last task must succeed

    items = one(run.task('Refuse a percentage that is not an integer from 0 to 100'), host.name)['results']
    assert [(i['item'], i['failed'], i['msg']) for i in items] == [
        (150, True, 'percentage=150 is not allowed: give an integer from 0 to 100'),
        (-1, True, 'percentage=-1 is not allowed: give an integer from 0 to 100'),
        (5.5, True, 'percentage=5.5 is not allowed: give an integer from 0 to 100'),
        ('abc', True, "percentage='abc' is not allowed: give an integer from 0 to 100")]

    res = one(run.task('Refuse an agent that is not in the file'), host.name)
    assert (res['_event'], res['msg']) == ('runner_on_failed', "%s: no 'no_such_agent' under models.agents "
                                           "(there: qa_agent, support_agent, legal_agent, analyst_agent, content_agent)" % path)

    for task in ('Refuse to set the rollout in a file that is not a Genesis config',
                 'Refuse to toggle an agent in a file that is not a Genesis config'):
        items = one(run.task(task), host.name)['results']
        assert [i['failed'] for i in items] == [True, True, True]
        assert items[0]['msg'] == '%s does not exist' % missing
        assert items[1]['msg'] == ('%s: the file is not valid YAML: while parsing a flow sequence (line 25, column 23): '
                                   "expected ',' or ']', but got ':' (line 26, column 9)" % malformed)
        assert items[2]['msg'] == "%s: no 'models' at the top level (there: service, mistral, load, defaults, requests, features)" % no_models

    res = one(run.task('Accept a percentage given as a string of digits'), host.name)
    assert (res['changed'], res['before'], res['after']) == (True, 100, 5)
    # the refusals wrote nothing: the file is the old one with this one edit, and no backup appeared
    assert read(path) == replace_once(text, ROLLOUT_LINE, ROLLOUT_LINE.replace(': 100 ', ': 5 ')).encode()
    assert sorted(set(listing(path)) - set(old_names)) == ['production.yaml.lock']
    assert not os.path.exists(os.path.dirname(missing))
    assert {p: read(p) for p in copies} == copies
    assert sorted(os.listdir(tmp_path)) == ['malformed.yaml', 'no_models.yaml']


# --- 4. secrets never leak -------------------------------------------------------------------------

def test_secrets_in_the_file_never_leak(play, lab, tmp_path):
    """A key planted as a site value and around rollout_percentage, and a short password only its key's
    name gives away: none of them in anything a -vvvv --diff run shows, checked or real."""
    host = lab.hosts[7]
    key = ''.join(secrets.choice(string.ascii_letters + string.digits) for dummy in range(32))
    password = ''.join(secrets.choice(string.ascii_letters + string.digits) for dummy in range(12))
    text = read(host.config).decode()
    text = replace_once(text, '  timeout_s:', '  api_key: "%s"\n  proxy_password: %s\n  timeout_s:' % (key, password))
    rollout_line = '  rollout_percentage: 100    # token %s\n' % key
    bearer_line = '  # check by hand: curl -H "Authorization: Bearer %s" $URL\n' % key
    text = replace_once(text, ROLLOUT_LINE, rollout_line + bearer_line)
    path = tmp_path / 'production.yaml'
    path.write_text(text, encoding='utf-8')
    extravars = dict(editors=['rollout_set', 'finetuned_toggle'], percentage=5, agent='qa_agent', enabled=False,
                     config_path=str(path))
    masked_rollout = [('-', '  rollout_percentage: 100    # token ********'), ('+', '  rollout_percentage: 5    # token ********')]
    masked_qa = [('-', QA_LINE.rstrip('\n')), ('+', QA_LINE.rstrip('\n').replace(': true ', ': false '))]

    for check in (True, False):
        run = play('config_editors/edit.yml', extravars=extravars, check=check, diff=True, verbosity=4, limit=host.name)
        where = leaked(run, key, password)
        assert not where, 'a secret leaked with check=%s' % check
        assert run.rc == 0, run.stdout
        rollout = one(run.task(TASK['rollout_set']), host.name)
        toggle = one(run.task(TASK['finetuned_toggle']), host.name)
        assert rollout['changed'] and toggle['changed']
        # the diff is there, masked the same on both sides, and still shows exactly the changed line
        for masked in ('  api_key: "********"\n  proxy_password: ********\n',
                       '# token ********\n  # check by hand: curl -H "Authorization: Bearer ********" $URL\n'):
            assert masked in rollout['diff']['before'] and masked in toggle['diff']['after']
        assert changed_lines(rollout['diff']['before'], rollout['diff']['after']) == masked_rollout
        assert changed_lines(toggle['diff']['before'], toggle['diff']['after']) == masked_qa
        assert shown_diff_lines(run.stdout) == masked_rollout + masked_qa
        assert len(run.stdout) > 10000  # -vvvv: ssh commands, module results and all

    # the real run did edit the file, and left the secrets in it
    expected = replace_once(replace_once(text, rollout_line, rollout_line.replace(': 100 ', ': 5 ')),
                            QA_LINE, QA_LINE.replace(': true ', ': false '))
    assert path.read_text(encoding='utf-8') == expected


# --- 5. concurrent runs take turns; a held lock makes a run fail clearly ---------------------------

def test_concurrent_runs_both_land(play, restore):
    host = restore.hosts[4]
    path = str(host.config)
    old = read(path).decode()
    percentages = list(range(1, 13))
    qa_enabled = [False, True] * 6 + [False]
    runs = {}

    def run(name, extravars):
        try:
            runs[name] = play('config_editors/contend.yml', extravars=extravars, limit=host.name)
        except Exception as exc:  # pylint: disable=broad-except
            runs[name] = exc

    threads = [threading.Thread(target=run, args=('rollout', dict(percentages=percentages))),
               threading.Thread(target=run, args=('toggle', dict(qa_enabled=qa_enabled)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert all(hasattr(r, 'rc') for r in runs.values()) and len(runs) == 2, runs
    assert runs['rollout'].rc == 0 and runs['toggle'].rc == 0, runs['rollout'].stdout + runs['toggle'].stdout

    # Each edit saw the run's own previous value: the other run never wrote back a stale copy.
    rollout = one(runs['rollout'].task('Set the rollout percentage once per item'), host.name)['results']
    toggle = one(runs['toggle'].task('Toggle qa_agent once per item'), host.name)['results']
    assert [(r['changed'], r['before'], r['after']) for r in rollout] == [
        (True, b, a) for b, a in zip([100] + percentages, percentages)]
    assert [(r['changed'], r['before'], r['after']) for r in toggle] == [
        (True, b, a) for b, a in zip([True] + qa_enabled, qa_enabled)]
    # and the two runs did overlap in time
    spans = {name: _task_span(result) for name, result in runs.items()}
    assert spans['rollout'][0] < spans['toggle'][1] and spans['toggle'][0] < spans['rollout'][1], spans

    expected = replace_once(replace_once(old, ROLLOUT_LINE, ROLLOUT_LINE.replace(': 100 ', ': 12 ')),
                            QA_LINE, QA_LINE.replace(': true ', ': false '))
    assert read(path).decode() == expected


def _task_span(result):
    """(first, last) event time of a run's looping task."""
    times = [e['created'] for e in result.events if e.get('event', '').startswith('runner_item_on_')]
    assert times, result.stdout
    return min(times), max(times)


def test_a_held_lock_makes_a_run_fail_clearly(play, restore):
    host = restore.hosts[3]
    path = str(host.config)
    assert os.path.realpath(path) == path
    old, old_stat = read(path), os.stat(path)
    with open(path + '.lock', 'w', encoding='utf-8') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        run = play('config_editors/edit.yml', extravars=dict(editors=['rollout_set'], percentage=7, lock_timeout=2, backup=True),
                   limit=host.name)
        elapsed = time.monotonic() - started
    assert run.rc != 0
    res = one(run.task(TASK['rollout_set']), host.name)
    assert (res['_event'], res['changed'], res['msg']) == (
        'runner_on_failed', False, 'timed out after 2s waiting for the lock on %s: another run holds %s.lock' % (path, path))
    assert elapsed >= 2
    assert read(path) == old
    assert os.stat(path).st_mtime_ns == old_stat.st_mtime_ns
    assert not [n for n in listing(path) if n.endswith('.bak') or n.endswith('.tmp')]
