#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lines of the collection's module_utils that each module ships to the host it runs on.

Ansible packs a module with every module_utils file it imports, directly or through another
module_utils file; this follows those imports the same way (from the source, as text) and
prints one row per module: the files shipped and their lines.

    .venv/bin/python bench/module_utils_shipped.py              # the working tree
    .venv/bin/python bench/module_utils_shipped.py --rev c8a8f77  # a commit, read from git
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'ansible_collections.genesis.model_ops.plugins.module_utils'
MODULES = 'plugins/modules'
UTILS = 'plugins/module_utils'


def reader(rev=None):
    """read(path) -> text of a file of the working tree, or of commit rev."""
    if rev is None:
        def read(path):
            with open(os.path.join(ROOT, path), encoding='utf-8') as handle:
                return handle.read()
        return read

    def read_rev(path):
        return subprocess.run(['git', '-C', ROOT, 'show', '%s:%s' % (rev, path)], check=True,
                              capture_output=True, text=True).stdout
    return read_rev


def listing(folder, rev=None):
    """The .py files directly in folder (names without .py)."""
    if rev is None:
        names = os.listdir(os.path.join(ROOT, folder))
    else:
        names = subprocess.run(['git', '-C', ROOT, 'ls-tree', '--name-only', '%s:%s' % (rev, folder)], check=True,
                               capture_output=True, text=True).stdout.split()
    return sorted(name[:-3] for name in names if name.endswith('.py') and name != '__init__.py')


def imports(source):
    """(module_utils names, every other module) that source imports, anywhere in the file."""
    utils, others = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                utils.update(alias.name for alias in node.names)
            elif node.module.startswith(PACKAGE + '.'):
                utils.add(node.module[len(PACKAGE) + 1:].split('.')[0])
            else:
                others.add(node.module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + '.'):
                    utils.add(alias.name[len(PACKAGE) + 1:].split('.')[0])
                else:
                    others.add(alias.name)
    return utils, others


def shipped(module, read):
    """({module_utils name: lines}, other modules imported) for a module and everything it pulls in."""
    utils, packages = imports(read('%s/%s.py' % (MODULES, module)))
    files, todo = {}, sorted(utils)
    while todo:
        name = todo.pop()
        if name in files:
            continue
        source = read('%s/%s.py' % (UTILS, name))
        files[name] = len(source.splitlines())
        more, others = imports(source)
        packages |= others
        todo.extend(sorted(more - set(files)))
    return files, packages


def table(rev=None):
    read = reader(rev)
    return dict((module, shipped(module, read)[0]) for module in listing(MODULES, rev))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rev', help='a git commit to read instead of the working tree')
    args = parser.parse_args()
    rows = table(args.rev)
    print('%-22s %5s %6s  %s' % ('module', 'files', 'lines', 'module_utils shipped'))
    for module, files in rows.items():
        print('%-22s %5d %6d  %s' % (module, len(files), sum(files.values()), ' '.join(sorted(files))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
