# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mutation testing (`make mutation`) of the code that decides and changes things: mutmut mutates one
file at a time and runs only that file's own unit tests against each mutant; the score per file
is printed at the end, the surviving mutants listed under it.

mutmut names a mutant after the module path of its file, and the tests import the collection as
ansible_collections.genesis.model_ops: so each file is mutated in a copy of the collection laid out
under .mutation/<file>/ansible_collections/genesis/model_ops/, which gives both the same name.

    .venv/bin/python tests/mutation/run.py [--max-children N] [file ...]   (default: every file below)
    .venv/bin/python tests/mutation/run.py --survivors [file ...]

--survivors tries again only the mutants that no test killed in the file's last run, against the tests as they are
now (for tests written since: the file itself must be unchanged, or it is refused); the score is then over every
mutant of that last run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, '.mutation')
UNIT = 'tests/unit/plugins/'

# file -> its own unit tests (the subprocess fault tests are left out: a mutant in a child process
# reports nothing back, and they take most of the time)
FILES = {
    'plugins/module_utils/_yamledit.py': [UNIT + 'module_utils/test_config.py', UNIT + 'module_utils/test_yamledit_words.py'],
    'plugins/module_utils/_config.py': [UNIT + 'module_utils/test_config.py', UNIT + 'modules/test_rollout_set.py',
                                        UNIT + 'modules/test_finetuned_toggle.py'],
    'plugins/module_utils/_files.py': [UNIT + 'module_utils/test_config.py', UNIT + 'module_utils/test_envfile.py',
                                       UNIT + 'module_utils/test_files_restore.py',
                                       UNIT + 'modules/test_file_restore.py', UNIT + 'modules/test_rollout_set.py',
                                       UNIT + 'modules/test_finetuned_toggle.py'],
    'plugins/module_utils/_common.py': [UNIT + 'module_utils/test_common.py', UNIT + 'module_utils/test_masking_edges.py'],
    'plugins/module_utils/_runlock.py': [UNIT + 'module_utils/test_runlock.py', UNIT + 'modules/test_run_lock.py'],
    'plugins/module_utils/_service.py': [UNIT + 'module_utils/test_service.py', UNIT + 'module_utils/test_service_edges.py',
                                         UNIT + 'modules/test_orchestrator_service.py'],
    'plugins/module_utils/_health.py': [UNIT + 'module_utils/test_health.py', UNIT + 'module_utils/test_health_edges.py',
                                        UNIT + 'modules/test_model_health.py'],
    'plugins/plugin_utils/_verdict_scenarios.py': [UNIT + 'plugin_utils/test_verdict.py', UNIT + 'plugin_utils/test_verdict_lines.py'],
    'plugins/plugin_utils/_fleet.py': [UNIT + 'plugin_utils/test_fleet.py', UNIT + 'filter/test_model_ops_filters.py'],
    'plugins/plugin_utils/_verdict_report.py': [UNIT + 'plugin_utils/test_verdict.py', UNIT + 'plugin_utils/test_verdict_mistral.py',
                                                UNIT + 'filter/test_verdict_filter.py'],
}
DESELECT = 'not kill_9 and not concurrent'
# the code, its tests and what they read (_fleet.py reads the genesis role's defaults and argument spec; its tests
# compare the defaults with the example inventory's)
COPY = ('plugins', 'roles', os.path.join('inventories', 'example'), 'tests', 'docs', 'pytest.ini')
SPINNER = '\u280b\u2819\u2839\u2838\u283c\u2834\u2826\u2827\u2807\u280f'  # mutmut's progress lines
PACKAGE = os.path.join('ansible_collections', 'genesis', 'model_ops')


def configure(where, path, tests):
    """mutmut's settings for mutating path against tests."""
    with open(os.path.join(where, 'setup.cfg'), 'w', encoding='utf-8') as handle:
        handle.write('[mutmut]\nsource_paths = ansible_collections\nonly_mutate = %s\n'
                     'pytest_add_cli_args_test_selection =\n%s'
                     'pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -k\n    %s\n'
                     % (os.path.join(PACKAGE, path), ''.join('    %s\n' % os.path.join(PACKAGE, test) for test in tests), DESELECT))


def stage(path, tests):
    """A fresh copy of the collection for mutating path; returns its folder."""
    where = os.path.join(WORK, os.path.basename(path)[:-3].lstrip('_'))
    shutil.rmtree(where, ignore_errors=True)
    for name in COPY:
        source, target = os.path.join(ROOT, name), os.path.join(where, PACKAGE, name)
        if os.path.isdir(source):
            shutil.copytree(source, target, ignore=shutil.ignore_patterns('__pycache__', 'output'))
        else:
            shutil.copy(source, target)
    configure(where, path, tests)
    return where


def refresh(where, path):
    """For --survivors: the tests as they are now in the last run's copy (and in mutmut's own copy of it); None, or
    why the last run cannot be reused."""
    staged = os.path.join(where, PACKAGE, path)
    if not os.path.exists(os.path.join(where, 'mutants', PACKAGE, path + '.meta')):
        return 'no earlier run of %s in %s' % (path, where)
    with open(os.path.join(ROOT, path), 'rb') as now, open(staged, 'rb') as then:
        if now.read() != then.read():
            return '%s changed since its last run: run it whole' % path
    configure(where, path, FILES[path])
    for copy in (os.path.join(where, PACKAGE), os.path.join(where, 'mutants', PACKAGE)):
        shutil.copytree(os.path.join(ROOT, 'tests'), os.path.join(copy, 'tests'), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns('__pycache__', 'output'))
    return None


def results(where, path):
    """{mutant name: status} from mutmut's record of the run."""
    from mutmut.stats import status_by_exit_code  # pylint: disable=import-outside-toplevel
    with open(os.path.join(where, 'mutants', PACKAGE, path + '.meta'), encoding='utf-8') as handle:
        meta = json.load(handle)
    return dict((name, status_by_exit_code[code]) for name, code in sorted(meta['exit_code_by_key'].items()))


MUTMUT = os.path.join(os.path.dirname(sys.executable), 'mutmut')


def diff(where, name):
    """The lines a mutant changes, as `mutmut show` gives them (- the code, + the mutant)."""
    show = subprocess.run([MUTMUT, 'show', name], cwd=where,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
    return [line for line in show.stdout.splitlines() if line[:1] in '-+' and line[:3] not in ('---', '+++')]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--max-children', type=int, default=2)
    parser.add_argument('--survivors', action='store_true', help='try again only what survived the last run')
    parser.add_argument('files', nargs='*', default=list(FILES), metavar='file', help=', '.join(FILES))
    args = parser.parse_args()
    unknown = sorted(set(args.files) - set(FILES))
    if unknown:
        parser.error('not a file this runs on: %s; one of %s' % (', '.join(unknown), ', '.join(FILES)))
    scores = []
    for path in args.files:
        names, before = [], {}
        if args.survivors:
            where = os.path.join(WORK, os.path.basename(path)[:-3].lstrip('_'))
            refused = refresh(where, path)
            if refused:
                scores.append((path, None, refused))
                continue
            before = results(where, path)
            names = [name for name, value in before.items() if value not in ('killed', 'timeout')]
        else:
            where = stage(path, FILES[path])
        print('== %s (tests: %s)%s' % (path, ' '.join(FILES[path]), ' %d survivors again' % len(names) if args.survivors else ''),
              flush=True)
        if args.survivors and not names:
            run = subprocess.CompletedProcess([], 0, '')
        else:
            run = subprocess.run([MUTMUT, 'run', '--max-children', str(args.max_children)] + names, cwd=where,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        if run.returncode:
            print('\n'.join(line for line in run.stdout.splitlines()[-60:] if line.strip() and line[0] not in SPINNER))
            scores.append((path, None, 'mutmut failed (exit %d)' % run.returncode))
            continue
        status = results(where, path)
        # mutmut forgets the other mutants' results when the file's test list changed: the last run's stand
        status.update((name, value) for name, value in before.items() if name not in names)
        killed = sum(1 for value in status.values() if value in ('killed', 'timeout'))
        # each mutant no test killed, with its change: .mutation/<file>/survivors.txt keeps them for the review
        with open(os.path.join(where, 'survivors.txt'), 'w', encoding='utf-8') as survivors:
            for name, value in status.items():
                if value not in ('killed', 'timeout'):
                    text = '   %s: %s\n%s' % (value, name, ''.join('      %s\n' % line for line in diff(where, name)))
                    survivors.write(text)
                    print(text, end='', flush=True)
        scores.append((path, killed * 100.0 / max(len(status), 1), '%d/%d killed' % (killed, len(status))))
    print('\nmutation score per file')
    for path, score, detail in scores:
        print('  %-45s %s  %s' % (path, '  n/a ' if score is None else '%5.1f%%' % score, detail))
    return 0 if all(score is not None for _path, score, _detail in scores) else 1


if __name__ == '__main__':
    sys.exit(main())
