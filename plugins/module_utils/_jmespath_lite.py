# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read a field out of a JSON document by a JMESPath expression.

The real ``jmespath`` package is used when it is installed. Genesis hosts need
nothing but the standard library, so without it a small evaluator handles the
plain paths a health payload needs (``a.b``, ``a."x-y"``, ``a[0]``, ``[-1].b``)
with JMESPath's semantics (a missing key or a wrong type gives ``None``), and
anything else fails with a message that names the package.
"""

from __future__ import annotations

import json
import re

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False


class ExpressionError(ValueError):
    """An expression that cannot be compiled (bad syntax, or needs jmespath)."""


_IDENT = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_INDEX = re.compile(r'\[\s*(-?\d+)\s*\]')


def parse_plain_path(expr):
    """Return the steps of a plain dotted path: a list of str (key) or int (index).

    Raises ExpressionError for anything that is not a plain path.
    """
    steps = []
    pos = 0
    while True:
        match = _IDENT.match(expr, pos) or _QUOTED.match(expr, pos)
        if match:
            text = match.group(0)
            try:
                steps.append(json.loads(text) if text.startswith('"') else text)
            except ValueError:  # a bad escape in a quoted name
                break
            pos = match.end()
        elif steps or not _INDEX.match(expr, pos):
            # only the first segment may be a bare index ("[0].name"); after a dot a name is due
            break
        match = _INDEX.match(expr, pos)
        while match:
            steps.append(int(match.group(1)))
            pos = match.end()
            match = _INDEX.match(expr, pos)
        if pos == len(expr):
            return steps
        if expr[pos] != '.':
            break
        pos += 1
    raise ExpressionError(
        "field expression %r is not a plain path (a.b, a.\"x-y\", a[0]); expressions beyond that "
        "need the 'jmespath' Python package on the host that runs the module (pip install jmespath)" % expr)


def _walk(steps, data):
    for step in steps:
        if isinstance(step, int):
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
        elif not isinstance(data, dict):
            return None
        elif step not in data:
            return None
        data = data[step]
    return data


def compile_expression(expr, use_jmespath=None):
    """Return a function data -> value for expr, or raise ExpressionError.

    use_jmespath: None uses the jmespath package when it is installed.
    """
    if use_jmespath is None:
        use_jmespath = HAS_JMESPATH
    if not isinstance(expr, str) or not expr.strip():
        raise ExpressionError("field expression %r is empty" % (expr,))
    expr = expr.strip()
    if use_jmespath:
        try:
            return jmespath.compile(expr).search
        except JMESPathError as exc:
            raise ExpressionError("field expression %r is not valid JMESPath: %s" % (expr, exc))
    steps = parse_plain_path(expr)
    return lambda data: _walk(steps, data)
