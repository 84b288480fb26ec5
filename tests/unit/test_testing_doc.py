# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/dev/testing.md names a test for each promise and entry point: each named test must exist, so the
matrix cannot claim a test that was renamed or removed."""

from __future__ import annotations

import ast
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DOC = os.path.join(ROOT, 'docs', 'dev', 'testing.md')
NAMED = re.compile(r'(tests/[\w/]+\.py)::(\w+)')


def matrix():
    """{(promise, entry point): cell} of the table under 'Promises and the tests that show them'."""
    with open(DOC, encoding='utf-8') as handle:
        text = handle.read()
    rows = [line for line in text.split('## Promises and the tests that show them')[1].split('\n## ')[0].splitlines()
            if line.startswith('|')]
    header = [cell.strip() for cell in rows[0].strip('|').split('|')]
    cells = {}
    for row in rows[2:]:
        values = [cell.strip() for cell in row.strip('|').split('|')]
        assert len(values) == len(header), row
        for column, value in zip(header[1:], values[1:]):
            cells[(values[0], column)] = value
    return header, cells


def functions(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_the_matrix_has_every_promise_and_entry_point():
    header, cells = matrix()
    assert header[1:] == ['rollback.yml', 'remediate_credentials.yml', 'remediate_rate_limit.yml',
                          'remediate_model_unavailable.yml', 'remediate_complete_failure.yml', 'remediate.yml',
                          'diagnose.yml', 'AWX (ansible-runner)', 'rulebook']
    assert sorted({promise for promise, _column in cells}) == sorted([
        'Restore and halt on a failed gate', 'Per-host lock', 'Check mode changes nothing', 'Second run changes nothing',
        'Key never appears', 'Verdict order and precedence', 'API calls independent of N'])


def test_each_cell_names_a_test_that_exists_or_says_why_not():
    _header, cells = matrix()
    named = 0
    for where, cell in sorted(cells.items()):
        tests = NAMED.findall(cell)
        assert tests or cell in ('missing', 'n/a'), (where, cell)
        for path, name in tests:
            assert os.path.isfile(os.path.join(ROOT, path)), (where, path)
            assert name in functions(path), '%s: no test %s in %s' % (where, name, path)
            named += 1
    assert named >= 20, named


def test_the_tests_the_text_names_exist_too():
    with open(DOC, encoding='utf-8') as handle:
        text = handle.read()
    for path, name in NAMED.findall(text):
        assert name in functions(path), (path, name)
