# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Start and restart genesis-orchestrator the contract's way (section 2): systemd, or its pid file.

Process mode never stops a process by a pattern. The pid file's process is stopped only when it
is provably the service of this app root (is_service()): its working directory is the app root, its
command line ends with the service's arguments (`genesis_orchestrator.py`), and it started before the
pid file was last written (a pid reused by a later process fails that). A pid file naming anything
else is stale: nothing is signalled, the service is started.

Nothing is stopped before everything a start needs has been checked (preflight(), and the config parsing as
the contract's): a restart whose start is bound to fail leaves the running service alone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from ansible_collections.genesis.model_ops.plugins.module_utils._common import env_assignment, mask

UNIT_DIR = '/run/systemd/system'


class ServiceError(Exception):
    """A start or stop that did not happen; the message says why and what was seen."""


def read_env_file(path):
    """{name: value} of an env file (KEY=VALUE lines, optional quotes and export, # comments)."""
    with open(path, encoding='utf-8') as handle:
        return dict(assignment for assignment in map(env_assignment, handle) if assignment)


def read_pid(pid_file):
    """The pid the pid file names, or None (missing, empty, not a number)."""
    try:
        with open(pid_file, encoding='utf-8') as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def alive(pid):
    """Whether pid is a live process (not a zombie)."""
    try:
        with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def started_at(pid):
    """When pid started, in seconds since the epoch (to the second: the kernel's boot time is whole seconds)."""
    with open('/proc/%d/stat' % pid, encoding='utf-8') as handle:
        ticks = int(handle.read().rsplit(')', 1)[1].split()[19])
    with open('/proc/stat', encoding='utf-8') as handle:
        boot = next(int(line.split()[1]) for line in handle if line.startswith('btime '))
    return boot + ticks / os.sysconf('SC_CLK_TCK')


def runs(pid, command):
    """Whether pid's command line is command's: the same arguments after the program (an interpreter may
    re-execute itself under another name), or, for a command without arguments, the same program name."""
    with open('/proc/%d/cmdline' % pid, 'rb') as handle:
        argv = [arg.decode('utf-8', 'surrogateescape') for arg in handle.read().split(b'\0')[:-1]]
    if len(command) > 1:
        return argv[1:][-(len(command) - 1):] == list(command[1:])
    return bool(argv) and os.path.basename(argv[0]) == os.path.basename(command[0])


def is_service(pid, app_root, command, pid_file):
    """Whether pid is provably this app root's service: alive, working in the app root, running command,
    and started no later than the pid file was written (1 s of slack: the start time is to the second)."""
    if not pid or not alive(pid):
        return False
    try:
        return (os.path.realpath(os.readlink('/proc/%d/cwd' % pid)) == os.path.realpath(app_root)
                and runs(pid, command) and started_at(pid) <= os.stat(pid_file).st_mtime + 1.0)
    except (OSError, ValueError, IndexError, StopIteration):
        return False


def running_pid(pid_file, app_root, command):
    """(pid or None, stale): the service's pid from its pid file; stale when the file names no such service."""
    pid = read_pid(pid_file)
    if pid is None:
        return None, os.path.exists(pid_file)
    if is_service(pid, app_root, command, pid_file):
        return pid, False
    return None, True


def stop_process(pid, timeout, sleep=time.sleep, clock=time.monotonic):
    """SIGTERM, wait up to timeout, then SIGKILL; returns how: 'term' or 'kill'."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 'term'
    deadline = clock() + timeout
    while clock() < deadline:
        _reap(pid)
        if not alive(pid):
            return 'term'
        sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return 'term'
    deadline = clock() + 10
    while alive(pid) and clock() < deadline:
        _reap(pid)
        sleep(0.1)
    if alive(pid):
        raise ServiceError('pid %d did not stop, even after SIGKILL' % pid)
    return 'kill'


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)  # only our own children; harmless for others
    except ChildProcessError:
        pass


def _tail(path, lines=5):
    try:
        with open(path, 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            text = handle.read().decode('utf-8', 'replace')
    except OSError:
        return ''
    return ' | '.join(line for line in mask(text).splitlines()[-lines:] if line.strip())


def preflight(app_root, env_file, command):
    """The environment the service starts with; ServiceError for what would make its start fail before it
    runs (app root, env file, program), so that nothing is stopped for a start bound to fail."""
    if not os.path.isdir(app_root):
        raise ServiceError('app_root %s is not a directory' % app_root)
    env = {'PATH': os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin'), 'LANG': os.environ.get('LANG', 'C.UTF-8')}
    try:
        env.update(read_env_file(env_file))
    except (OSError, UnicodeDecodeError) as exc:
        raise ServiceError('cannot read the env file %s: %s' % (env_file, getattr(exc, 'strerror', None) or exc))
    program = os.path.join(app_root, command[0]) if os.sep in command[0] else shutil.which(command[0], path=env['PATH'])
    if not program or not os.access(program, os.X_OK) or os.path.isdir(program):
        raise ServiceError('cannot run %s: not an executable file (command=%s, PATH=%s)' % (command[0], command, env['PATH']))
    return env


def config_error(path):
    """Why the service would not start with the config at path (missing, unreadable, not YAML, no models:
    mapping), or None. The YAML error names the line, never quotes it (a config may hold a secret). Without
    PyYAML on the host there is nothing to parse it with: None."""
    try:
        import yaml  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except OSError as exc:
        return 'cannot read the config %s: %s' % (path, exc.strerror or exc)
    try:
        try:
            document = yaml.load(data, Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))
        except yaml.YAMLError:  # the pure Python loader's message, as the editors give it: the same on every host
            document = yaml.load(data, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, 'problem_mark', None)
        return 'the config %s is not valid YAML (%s%s)' % (
            path, getattr(exc, 'problem', None) or type(exc).__name__, ', line %d' % (mark.line + 1) if mark else '')
    if not isinstance(document, dict) or not isinstance(document.get('models'), dict):
        return 'the config %s has no models: mapping (host contract, section 3)' % path
    return None


def start_process(app_root, pid_file, env, command, timeout, old_pid=None, sleep=time.sleep, clock=time.monotonic):
    """Start the service detached in its app root, with env (preflight()'s); returns its pid.

    Ready as far as this goes when the pid file names a new live process of this app root; a
    process that exits first is a failed start, with the last lines of its output.
    """
    out_path = os.path.join(app_root, 'logs', 'orchestrator.out')
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, 'ab') as out:
        try:
            child = subprocess.Popen(command, cwd=app_root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     start_new_session=True, close_fds=True)
        except OSError as exc:
            raise ServiceError('cannot run %s in %s: %s' % (' '.join(command), app_root, exc.strerror or exc))
    deadline = clock() + timeout
    while clock() < deadline:
        pid = read_pid(pid_file)
        if pid and pid != old_pid and is_service(pid, app_root, command, pid_file):
            return pid
        code = child.poll()
        if code is not None and not (pid and pid != old_pid and alive(pid)):
            raise ServiceError('%s exited with %s before writing %s; its output: %s'
                               % (' '.join(command), code, pid_file, _tail(out_path) or '(none)'))
        sleep(0.2)
    raise ServiceError('no new pid in %s within %ss of starting %s; its output: %s'
                       % (pid_file, timeout, ' '.join(command), _tail(out_path) or '(none)'))


def systemd_available(name, run=None):
    """Whether systemd runs here and knows the unit."""
    if not os.path.isdir(UNIT_DIR) or not shutil.which('systemctl'):
        return False
    proc = (run or subprocess.run)(['systemctl', 'cat', '--', name], capture_output=True, text=True, check=False)
    return proc.returncode == 0


def systemd_pid(name, run=None):
    proc = (run or subprocess.run)(['systemctl', 'show', '--property=MainPID', '--value', '--', name], capture_output=True, text=True, check=False)
    text = proc.stdout.strip()
    return int(text) if proc.returncode == 0 and text.isdigit() and int(text) > 0 else None


def systemd_action(action, name, run=None):
    proc = (run or subprocess.run)(['systemctl', action, '--', name], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ServiceError('systemctl %s %s failed (%s): %s' % (action, name, proc.returncode, mask(proc.stderr.strip())))


def refuse_config(path, running):
    """ServiceError when the service would not start with the config at path: a running one is left running."""
    error = config_error(path)
    if error:
        raise ServiceError('%s: the service would not start with it, so %s' % (
            error, 'it was left running' if running else 'it was not started'))


def manage(params, check_mode):
    """The module's work: the result dict (raises ServiceError for a start or stop that failed)."""
    state, name, app_root = params['state'], params['name'], params['app_root']
    pid_file = params['pid_file'] or os.path.join(app_root, 'run', 'genesis-orchestrator.pid')
    manager = params['manager']
    if manager == 'auto':
        manager = 'systemd' if systemd_available(name) else 'process'
    elif manager == 'systemd' and not systemd_available(name):
        raise ServiceError('systemd does not know the unit %s here (systemctl cat %s failed, or no systemd)' % (name, name))
    result = {'manager': manager, 'state': state, 'pid_file': pid_file if manager == 'process' else None,
              'stale_pid_file': False, 'stopped': None, 'old_pid': None, 'pid': None, 'changed': False}
    config = params.get('config_path') or os.path.join(app_root, 'infrastructure', 'config', 'production.yaml')

    if manager == 'systemd':
        old = systemd_pid(name)
        result['old_pid'] = old
        if state == 'started' and old:
            result['pid'] = old
            return result
        refuse_config(config, old)
        result['changed'] = True
        if not check_mode:
            systemd_action('restart' if state == 'restarted' else 'start', name)
            result['pid'] = systemd_pid(name)
        return result

    old, stale = running_pid(pid_file, app_root, params['command'])
    result.update(old_pid=old, stale_pid_file=stale)
    if state == 'started' and old:
        result['pid'] = old
        return result
    env = preflight(app_root, params['env_file'], params['command'])  # in check mode too: it tells what would fail
    refuse_config(config, old)
    result['changed'] = True
    if check_mode:
        return result
    if old:
        result['stopped'] = stop_process(old, params['stop_timeout'])
    result['pid'] = start_process(app_root, pid_file, env, params['command'], params['start_timeout'],
                                  old_pid=old or read_pid(pid_file))
    return result
