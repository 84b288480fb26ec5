# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""How the collection's filter plugins expose the functions of plugin_utils: input they cannot take is
an AnsibleFilterError that names the filter, not a traceback."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def filter_map(functions):
    """{filter name: function} -> {filter name: the function, its errors named after the filter}."""
    return dict((name, _named(name, function)) for name, function in functions.items())


def _named(name, function):
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (KeyError, TypeError, ValueError) as exc:
            raise AnsibleFilterError('genesis.model_ops.%s: %s' % (name, exc)) from exc
    run.__name__ = name
    run.__doc__ = function.__doc__
    return run
