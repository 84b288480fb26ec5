# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Service control at its edges, each with a real process where one can be had: the exact words of every
refusal and failure, what a start leaves (its output file, its own session, no inherited descriptor),
how long a stop waits by the clock it is given, what /proc says about a zombie or a process whose name
holds a parenthesis, and the systemd commands as a `systemctl` on PATH receives them (no systemd here:
the stand-in checks its arguments and keeps a log)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _service as svc
from ansible_collections.genesis.model_ops.tests.unit.helpers import StepClock
from ansible_collections.genesis.model_ops.tests.unit.plugins.module_utils.test_service import (  # pylint: disable=unused-import
    KEY, params, root, serving)

COMMAND = [sys.executable, 'genesis_orchestrator.py']
UNIT = 'genesis-orchestrator'


def pid_file(app):
    return str(app / 'run' / 'genesis-orchestrator.pid')


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def dead_pid():
    """The pid of a process that has ended and been reaped."""
    proc = subprocess.Popen(['true'])
    proc.wait()
    return proc.pid


def env_for(app):
    return svc.preflight(str(app), str(app.parent.parent / 'genesis.env'), COMMAND)


@pytest.fixture(autouse=True)
def no_leftovers(tmp_path):
    """Every process a test started in its folder ends with it (a start given up on leaves its child)."""
    yield
    for name in os.listdir('/proc'):
        try:
            if name.isdigit() and os.readlink('/proc/%s/cwd' % name).startswith(str(tmp_path)):
                kill(int(name))
        except OSError:
            pass


class Clock(StepClock):
    """helpers.StepClock moving one second each time it is read (0, 1, 2, ...), with a sleep that records what it was
    asked and lets real time pass instead of moving the clock."""

    def __init__(self, real_sleep=0.0):
        super().__init__(step=1, now=-1)
        self.sleeps, self.real_sleep = [], real_sleep

    def clock(self):
        return self()

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        time.sleep(self.real_sleep)


# ---- the pid file, /proc ----

@pytest.mark.parametrize('text, pid', [('4242\n', 4242), ('1', 1), ('0', None), ('', None), ('abc', None), ('-5', None),
                                       ('12 34', None)])
def test_read_pid(tmp_path, text, pid):
    (tmp_path / 'pid').write_text(text, encoding='utf-8')
    assert svc.read_pid(str(tmp_path / 'pid')) == pid
    assert svc.read_pid(str(tmp_path / 'missing')) is None


def test_a_zombie_is_not_alive():
    proc = subprocess.Popen(['true'])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # ended, not yet reaped: its state is Z
        with open('/proc/%d/stat' % proc.pid, encoding='utf-8') as handle:
            if handle.read().rsplit(')', 1)[1].split()[0] == 'Z':
                break
        time.sleep(0.02)
    try:
        assert svc.alive(proc.pid) is False
    finally:
        proc.wait()
    assert svc.alive(proc.pid) is False and svc.alive(os.getpid()) is True


@pytest.fixture
def odd_name(tmp_path):
    """A live process whose name holds ') Z (': /proc/<pid>/stat is read from the last parenthesis."""
    program = tmp_path / 'a) Z (b'
    shutil.copy(shutil.which('sleep'), program)
    before = time.time()
    proc = subprocess.Popen([str(program), '30'], cwd=str(tmp_path))
    time.sleep(0.1)
    yield proc, before
    proc.kill()
    proc.wait()


def test_a_process_whose_name_holds_a_parenthesis(odd_name):
    proc, before = odd_name
    assert svc.alive(proc.pid) is True
    assert before - 1.5 <= svc.started_at(proc.pid) <= time.time() + 0.5
    assert svc.runs(proc.pid, ['/elsewhere/a) Z (b']) is True and svc.runs(proc.pid, ['sleep']) is False


@pytest.fixture
def sleeper(tmp_path):
    """`python -u <script> 30` and a process whose argument is not UTF-8."""
    script = tmp_path / 'nap.py'
    script.write_text('import sys, time\ntime.sleep(float(sys.argv[-1]))\n', encoding='utf-8')
    procs = [subprocess.Popen([sys.executable, '-u', str(script), '30']),
             subprocess.Popen([sys.executable, str(script), os.fsdecode(b'\xff'), '30'])]
    time.sleep(0.2)
    yield [proc.pid for proc in procs], str(script)
    for proc in procs:
        proc.kill()
        proc.wait()


def test_runs_compares_the_arguments_after_the_program_or_the_program_alone(sleeper):
    (pid, odd), script = sleeper
    assert svc.runs(pid, ['python3', script, '30']) is True  # the arguments' tail, another interpreter name
    assert svc.runs(pid, ['python3', '30']) is True
    assert svc.runs(pid, ['python3', 'other.py']) is False
    assert svc.runs(pid, ['python3', '-u', script, '30']) is True
    assert svc.runs(pid, ['python3', '-x', script, '30']) is False
    assert svc.runs(pid, [sys.executable]) is True  # no arguments: the program's name
    assert svc.runs(pid, ['/elsewhere/' + os.path.basename(sys.executable)]) is True
    assert svc.runs(pid, ['sleep']) is False
    assert svc.runs(odd, ['python3', script, os.fsdecode(b'\xff'), '30']) is True  # not UTF-8: compared as bytes


def test_is_service_needs_a_pid_a_pid_file_and_a_start_before_it(root):
    result = svc.manage(params(root, state='started'), check_mode=False)
    pid = result['pid']
    assert svc.is_service(pid, str(root), COMMAND, pid_file(root)) is True
    assert svc.is_service(None, str(root), COMMAND, pid_file(root)) is False
    assert svc.is_service(0, str(root), COMMAND, pid_file(root)) is False
    assert svc.is_service(dead_pid(), str(root), COMMAND, pid_file(root)) is False
    assert svc.is_service(pid, str(root), COMMAND, str(root / 'run' / 'missing.pid')) is False
    written = svc.started_at(pid)
    os.utime(pid_file(root), (written - 1.5, written - 1.5))  # written 1.5 s before the process started
    assert svc.is_service(pid, str(root), COMMAND, pid_file(root)) is False
    os.utime(pid_file(root), (written - 0.5, written - 0.5))  # within the second the start time is known to
    assert svc.is_service(pid, str(root), COMMAND, pid_file(root)) is True


# ---- the last lines of the service's output ----

@pytest.mark.parametrize('content, tail', [
    (b'one\ntwo\n\n   \nthree\nfour\nfive\nsix\nseven\n', 'three | four | five | six | seven'),
    (b'abc\n', 'abc'),
    (b'a\nb\nc\nd\ne\nf\ng\n', 'c | d | e | f | g'),
    (b'Q' + b'ab ' * 1365 + b'\n', 'ab ' * 1365),  # only the last 4096 bytes are read
    (b'bad \xff byte\n', 'bad \ufffd byte'),
    (('key %s\n' % KEY).encode(), 'key ********'),
    (b'', ''),
])
def test_tail_of_the_output(tmp_path, content, tail):
    (tmp_path / 'out').write_bytes(content)
    assert svc._tail(str(tmp_path / 'out')) == tail  # pylint: disable=protected-access
    assert svc._tail(str(tmp_path / 'missing')) == ''  # pylint: disable=protected-access


# ---- what a start needs ----

def test_preflight_gives_the_service_path_lang_and_the_env_file(root, monkeypatch):
    monkeypatch.setenv('PATH', '/opt/a:/usr/bin:/bin')
    monkeypatch.setenv('LANG', 'de_DE.UTF-8')
    assert env_for(root) == {'PATH': '/opt/a:/usr/bin:/bin', 'LANG': 'de_DE.UTF-8', 'MISTRAL_API_KEY': KEY}
    monkeypatch.delenv('PATH')
    monkeypatch.delenv('LANG')
    assert env_for(root) == {'PATH': '/usr/local/bin:/usr/bin:/bin', 'LANG': 'C.UTF-8', 'MISTRAL_API_KEY': KEY}


def test_preflight_finds_a_program_by_the_env_files_path_or_in_the_app_root(root, tmp_path):
    bin_dir = tmp_path / 'service-bin'
    bin_dir.mkdir()
    for program in (bin_dir / 'genesis-run', root / 'run.sh'):
        program.write_text('#!/bin/sh\n', encoding='utf-8')
        program.chmod(0o755)
    env_file = tmp_path / 'with-path.env'
    env_file.write_text('PATH=%s\n' % bin_dir, encoding='utf-8')
    assert svc.preflight(str(root), str(env_file), ['genesis-run'])['PATH'] == str(bin_dir)
    assert svc.preflight(str(root), str(env_file), ['./run.sh'])  # relative to the app root, not to here
    assert os.getcwd() != str(root)
    with pytest.raises(svc.ServiceError) as err:
        svc.preflight(str(root), str(env_file), ['sleep', '1'])  # on this PATH, not on the service's
    assert str(err.value) == ("cannot run sleep: not an executable file (command=['sleep', '1'], PATH=%s)" % bin_dir)
    with pytest.raises(svc.ServiceError) as err:
        svc.preflight(str(root), str(env_file), ['./logs'])
    assert str(err.value).startswith('cannot run ./logs: not an executable file')


def test_preflight_names_the_env_file_and_why(root, tmp_path):
    with pytest.raises(svc.ServiceError) as err:
        svc.preflight(str(root), str(tmp_path / 'nope.env'), COMMAND)
    assert str(err.value) == 'cannot read the env file %s: No such file or directory' % (tmp_path / 'nope.env')
    (tmp_path / 'bad.env').write_bytes(b'MISTRAL_API_KEY=\xff\n')
    with pytest.raises(svc.ServiceError) as err:
        svc.preflight(str(root), str(tmp_path / 'bad.env'), COMMAND)
    assert str(err.value).startswith("cannot read the env file %s: 'utf-8' codec can't decode byte 0xff" % (tmp_path / 'bad.env'))


@pytest.mark.parametrize('content, words', [
    (b'[' * 3000, 'is not valid YAML (RecursionError)'),
    (b'models: \xff\n', 'is not valid YAML (ReaderError)'),
    (b'models: {a: 1\n', 'is not valid YAML (expected \',\' or \'}\', but got \'<stream end>\', line 2)'),
    (b'models: 3\n', 'has no models: mapping (host contract, section 3)'),
])
def test_config_error_words(tmp_path, content, words):
    (tmp_path / 'production.yaml').write_bytes(content)
    assert svc.config_error(str(tmp_path / 'production.yaml')) == 'the config %s %s' % (tmp_path / 'production.yaml', words)
    assert svc.config_error(str(tmp_path / 'missing.yaml')) == 'cannot read the config %s: No such file or directory' % (
        tmp_path / 'missing.yaml')
    (tmp_path / 'good.yaml').write_bytes(b'models: {}\n')
    assert svc.config_error(str(tmp_path / 'good.yaml')) is None


def test_a_config_it_would_not_start_with_is_refused_in_words(root):
    config = root / 'infrastructure' / 'config' / 'production.yaml'
    config.write_text('models: 3\n', encoding='utf-8')
    with pytest.raises(svc.ServiceError) as err:
        svc.manage(params(root, state='started'), check_mode=False)
    assert str(err.value) == ('the config %s has no models: mapping (host contract, section 3): the service would not start '
                              'with it, so it was not started' % config)
    assert not (root / 'logs').exists()


# ---- a start ----

def test_a_start_writes_its_output_in_logs_and_runs_in_a_session_of_its_own_without_our_descriptors(root):
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    pipe = os.readlink('/proc/self/fd/%d' % write_end)
    stdin = os.dup(0)
    os.dup2(read_end, 0)  # a caller whose standard input is a pipe: the service does not get it
    try:
        pid = svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 10)
        held = [os.readlink('/proc/%d/fd/%s' % (pid, fd)) for fd in os.listdir('/proc/%d/fd' % pid)]
    finally:
        os.dup2(stdin, 0)
        os.close(stdin)
        os.close(read_end)
        os.close(write_end)
    assert serving(pid, root) and os.getsid(pid) == pid
    assert pipe not in held
    assert os.readlink('/proc/%d/fd/0' % pid) == '/dev/null'
    deadline = time.monotonic() + 5
    while 'warming up' not in (root / 'logs' / 'orchestrator.out').read_text(encoding='utf-8') and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (root / 'logs' / 'orchestrator.out').read_text(encoding='utf-8').splitlines() == ['serving, pid %d' % pid, 'warming up']


def test_a_start_waits_for_a_new_pid_not_the_old_one(root):
    old = svc.manage(params(root, state='started'), check_mode=False)['pid']
    try:
        new = svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 10, old_pid=old)
        assert new != old and serving(new, root)
    finally:
        kill(old)


def test_a_start_polls_every_fifth_of_a_second_and_stops_looking_at_its_deadline(root):
    ticks = Clock(real_sleep=0.2)
    pid = svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 100, sleep=ticks.sleep, clock=ticks.clock)
    assert serving(pid, root) and ticks.sleeps and set(ticks.sleeps) == {0.2}
    kill(pid)
    (root / 'no_pid').write_text('', encoding='utf-8')
    stuck = iter([0] + [10] * 1000)  # the deadline has come at the first look
    with pytest.raises(svc.ServiceError) as err:
        svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 10, clock=lambda: next(stuck))
    assert str(err.value).startswith('no new pid in %s within 10s of starting %s; its output:' % (pid_file(root), ' '.join(COMMAND)))


def test_a_start_that_never_writes_its_pid_says_so_with_its_output(root):
    (root / 'no_pid').write_text('', encoding='utf-8')
    with pytest.raises(svc.ServiceError) as err:
        svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 1.0)
    assert str(err.value) == 'no new pid in %s within 1.0s of starting %s; its output: serving, pid %s | warming up' % (
        pid_file(root), ' '.join(COMMAND), str(err.value).rsplit('serving, pid ', 1)[1].split(' ')[0])
    (root / 'logs' / 'orchestrator.out').write_bytes(b'')
    quiet = dict(env_for(root), LOOKALIKE='1')  # runs without a word, never writes its pid file
    with pytest.raises(svc.ServiceError) as err:
        svc.start_process(str(root), pid_file(root), quiet, COMMAND, 1.0)
    assert str(err.value).endswith('within 1.0s of starting %s; its output: (none)' % ' '.join(COMMAND))
    (root / 'logs' / 'orchestrator.out').write_bytes(b'')
    (root / 'no_pid').unlink()
    (root / 'silent').write_text('', encoding='utf-8')
    with pytest.raises(svc.ServiceError) as err:
        svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 10)
    assert str(err.value) == '%s exited with 4 before writing %s; its output: (none)' % (' '.join(COMMAND), pid_file(root))


@pytest.mark.parametrize('old_alive', [False, True])
def test_a_failed_start_is_named_at_once_while_the_pid_file_still_names_the_old_process(root, old_alive):
    if old_alive:
        old = svc.manage(params(root, state='started'), check_mode=False)['pid']
        (root / 'logs' / 'orchestrator.out').write_bytes(b'')
    else:
        old = dead_pid()
        (root / 'run').mkdir()
        (root / 'run' / 'genesis-orchestrator.pid').write_text('%d\n' % old, encoding='utf-8')
    (root / 'fail').write_text('', encoding='utf-8')
    try:
        with pytest.raises(svc.ServiceError) as err:
            svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 4, old_pid=old)
    finally:
        kill(old)
    assert str(err.value) == '%s exited with 3 before writing %s; its output: cannot start: configuration check failed, key ********' % (
        ' '.join(COMMAND), pid_file(root))


def test_a_start_that_names_another_live_process_is_waited_on_not_taken(root, tmp_path):
    other = subprocess.Popen(['sleep', '30'], cwd=str(tmp_path))
    (root / 'other_pid').write_text('%d\n' % other.pid, encoding='utf-8')
    try:
        with pytest.raises(svc.ServiceError, match=r'^no new pid in .* within 1\.0s'):
            svc.start_process(str(root), pid_file(root), env_for(root), COMMAND, 1.0)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_restart_over_a_stale_pid_file_naming_a_live_stranger_reports_the_failed_start(root, tmp_path):
    other = subprocess.Popen(['sleep', '30'], cwd=str(tmp_path))
    (root / 'run').mkdir()
    (root / 'run' / 'genesis-orchestrator.pid').write_text('%d\n' % other.pid, encoding='utf-8')
    (root / 'fail').write_text('', encoding='utf-8')
    try:
        with pytest.raises(svc.ServiceError, match='exited with 3 before writing'):
            svc.manage(params(root, start_timeout=4.0), check_mode=False)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_program_that_cannot_be_run_is_named(root):
    with pytest.raises(svc.ServiceError) as err:
        svc.start_process(str(root), pid_file(root), env_for(root), [str(root / 'nope'), 'x'], 5)
    assert str(err.value) == 'cannot run %s x in %s: No such file or directory' % (root / 'nope', root)


def test_the_process_result_in_full(root):
    started = svc.manage(params(root, state='started'), check_mode=False)
    assert started == {'manager': 'process', 'state': 'started', 'pid_file': pid_file(root), 'stale_pid_file': False,
                       'stopped': None, 'old_pid': None, 'pid': started['pid'], 'changed': True}
    restarted = svc.manage(params(root), check_mode=False)
    assert restarted == {'manager': 'process', 'state': 'restarted', 'pid_file': pid_file(root), 'stale_pid_file': False,
                         'stopped': 'term', 'old_pid': started['pid'], 'pid': restarted['pid'], 'changed': True}


# ---- a stop ----

def test_a_stop_of_a_process_already_gone():
    assert svc.stop_process(dead_pid(), 5) == 'term'


def test_a_stop_waits_its_timeout_by_the_clock_then_kills(root):
    (root / 'stubborn').write_text('', encoding='utf-8')
    pid = svc.manage(params(root, state='started'), check_mode=False)['pid']
    time.sleep(0.3)
    ticks = Clock(real_sleep=0.05)
    assert svc.stop_process(pid, 3, sleep=ticks.sleep, clock=ticks.clock) == 'kill'
    assert not svc.alive(pid)
    assert ticks.sleeps[:2] == [0.1, 0.1] and set(ticks.sleeps) == {0.1} and len(ticks.sleeps) <= 3 + 10


def test_a_process_gone_before_its_sigkill_was_stopped_by_sigterm(monkeypatch):
    sent = []

    def fake_kill(pid, sig):
        sent.append(sig)
        if sig == signal.SIGKILL:
            raise ProcessLookupError(pid)
    monkeypatch.setattr(svc, 'alive', lambda pid: True)
    monkeypatch.setattr(svc.os, 'kill', fake_kill)
    ticks = Clock()
    assert svc.stop_process(999999, 3, sleep=ticks.sleep, clock=ticks.clock) == 'term'
    assert sent == [signal.SIGTERM, signal.SIGKILL] and ticks.sleeps == [0.1, 0.1]


def test_a_process_that_outlives_sigkill_is_reported_after_ten_seconds(monkeypatch):
    sent = []
    monkeypatch.setattr(svc, 'alive', lambda pid: True)
    monkeypatch.setattr(svc.os, 'kill', lambda pid, sig: sent.append(sig))
    ticks = Clock()
    with pytest.raises(svc.ServiceError) as err:
        svc.stop_process(999999, 3, sleep=ticks.sleep, clock=ticks.clock)
    assert str(err.value) == 'pid 999999 did not stop, even after SIGKILL'
    # reads 0..3 wait for SIGTERM (two naps); read 4 sets SIGKILL's deadline at 14; reads 5..13 nap
    assert sent == [signal.SIGTERM, signal.SIGKILL] and ticks.sleeps == [0.1] * 11


# ---- systemd, through a systemctl on PATH ----

SYSTEMCTL = '''#!%(python)s
import json, os, sys
state = os.environ["SYSTEMCTL_STATE"]
argv = sys.argv[1:]
with open(os.path.join(state, "calls"), "a") as log:
    log.write(json.dumps(argv) + "\\n")
known = open(os.path.join(state, "units")).read().split()
def unit(args):
    if len(args) != 2 or args[0] != "--" or args[1] not in known:
        sys.exit("Unit %%s not found." %% args[-1:])
if argv[:1] == ["cat"]:
    unit(argv[1:])
    print("# /run/systemd/system/%%s.service" %% argv[2])
elif argv[:4] == ["show", "--property=MainPID", "--value", "--"]:
    unit(argv[3:])
    print(open(os.path.join(state, "mainpid")).read().strip())
elif argv[:1] in (["start"], ["restart"]):
    unit(argv[1:])
    if os.path.exists(os.path.join(state, "fail")):
        sys.stderr.write("Job for %%s.service failed. MISTRAL_API_KEY=%(key)s\\n" %% argv[2])
        sys.exit(5)
    pid = int(open(os.path.join(state, "mainpid")).read()) + 100
    open(os.path.join(state, "mainpid"), "w").write(str(pid))
else:
    sys.exit("Unknown command verb %%s." %% argv[:1])
''' % {'python': sys.executable, 'key': KEY}


@pytest.fixture
def systemctl(monkeypatch, tmp_path):
    """The unit folder and a systemctl on PATH that knows genesis-orchestrator, its MainPID 0 (stopped)."""
    state = tmp_path / 'systemctl'
    (tmp_path / 'units').mkdir()
    (state / 'bin').mkdir(parents=True)
    (state / 'bin' / 'systemctl').write_text(SYSTEMCTL, encoding='utf-8')
    (state / 'bin' / 'systemctl').chmod(0o755)
    (state / 'units').write_text(UNIT + '\n', encoding='utf-8')
    (state / 'mainpid').write_text('0\n', encoding='utf-8')
    monkeypatch.setattr(svc, 'UNIT_DIR', str(tmp_path / 'units'))
    monkeypatch.setenv('PATH', '%s:%s' % (state / 'bin', os.environ['PATH']))
    monkeypatch.setenv('SYSTEMCTL_STATE', str(state))

    def calls():
        path = state / 'calls'
        return [json.loads(line) for line in path.read_text(encoding='utf-8').splitlines()] if path.exists() else []
    return state, calls


def test_systemd_available_asks_systemctl_cat_for_the_unit(systemctl, monkeypatch, tmp_path, capfd):
    state, calls = systemctl
    assert svc.systemd_available(UNIT) is True
    assert capfd.readouterr() == ('', '')  # the unit file is not printed: a module's output is its JSON alone
    assert svc.systemd_available('other-unit') is False
    assert calls() == [['cat', '--', UNIT], ['cat', '--', 'other-unit']]
    monkeypatch.setattr(svc, 'UNIT_DIR', str(tmp_path / 'no-units'))  # systemctl, but systemd not running
    assert svc.systemd_available(UNIT) is False
    monkeypatch.setattr(svc, 'UNIT_DIR', str(tmp_path / 'units'))
    monkeypatch.setenv('PATH', '/nonexistent')  # systemd's folder, but no systemctl
    assert svc.systemd_available(UNIT) is False
    assert len(calls()) == 2 and state.exists()


def test_systemd_pid_and_action(systemctl):
    state, calls = systemctl
    assert svc.systemd_pid(UNIT) is None  # MainPID=0: not running
    svc.systemd_action('start', UNIT)
    assert svc.systemd_pid(UNIT) == 100
    assert svc.systemd_pid('other-unit') is None
    (state / 'fail').write_text('', encoding='utf-8')
    with pytest.raises(svc.ServiceError) as err:
        svc.systemd_action('restart', UNIT)
    assert str(err.value) == ('systemctl restart genesis-orchestrator failed (5): Job for genesis-orchestrator.service failed. '
                              'MISTRAL_API_KEY=********')
    assert calls() == [['show', '--property=MainPID', '--value', '--', UNIT], ['start', '--', UNIT],
                       ['show', '--property=MainPID', '--value', '--', UNIT],
                       ['show', '--property=MainPID', '--value', '--', 'other-unit'], ['restart', '--', UNIT]]


@pytest.mark.parametrize('manager', ['auto', 'systemd'])
def test_systemd_start_restart_and_check_mode_results_in_full(systemctl, root, manager):
    _state, calls = systemctl
    base = {'manager': 'systemd', 'pid_file': None, 'stale_pid_file': False, 'stopped': None}
    assert svc.manage(params(root, manager=manager, state='restarted'), check_mode=True) == dict(
        base, state='restarted', old_pid=None, pid=None, changed=True)
    assert svc.manage(params(root, manager=manager, state='started'), check_mode=False) == dict(
        base, state='started', old_pid=None, pid=100, changed=True)
    assert svc.manage(params(root, manager=manager, state='started'), check_mode=False) == dict(
        base, state='started', old_pid=100, pid=100, changed=False)
    assert svc.manage(params(root, manager=manager, state='restarted'), check_mode=False) == dict(
        base, state='restarted', old_pid=100, pid=200, changed=True)
    verbs = [call[0] for call in calls() if call[0] not in ('cat', 'show')]
    assert verbs == ['start', 'restart'] and not (root / 'run').exists()


def test_without_systemd_auto_is_the_process_mode_and_systemd_is_refused(monkeypatch, root, tmp_path):
    monkeypatch.setattr(svc, 'UNIT_DIR', str(tmp_path / 'no-units'))
    result = svc.manage(params(root, manager='auto', state='started'), check_mode=True)
    assert (result['manager'], result['pid_file']) == ('process', pid_file(root))
    with pytest.raises(svc.ServiceError) as err:
        svc.manage(params(root, manager='systemd'), check_mode=False)
    assert str(err.value) == ('systemd does not know the unit genesis-orchestrator here (systemctl cat genesis-orchestrator '
                              'failed, or no systemd)')
