# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The YAML editor's words for a file it will not take (file_restore checks a backup with yaml_parses before
putting it back): the line and column, never the line's text."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.genesis.model_ops.plugins.module_utils import _yamledit


@pytest.mark.parametrize('data, message', [
    (b'a: [1\n', "not YAML: while parsing a flow sequence (line 1, column 4): expected ',' or ']', but got '<stream end>' "
                 "(line 2, column 1)"),
    (b'a: 1\n  b: 2\n', 'not YAML: mapping values are not allowed here (line 2, column 4)'),
    (b'api_key: "sk-secret\n', 'not YAML: while scanning a quoted scalar (line 1, column 10): found unexpected end of stream '
                               '(line 2, column 1)'),
    (b'- 1\n', 'not a YAML mapping but list'),
    (b'just text\n', 'not a YAML mapping but str'),
    (b'a: \x00\n', 'not YAML: unacceptable character #x0000: special characters are not allowed\n'
                   '  in "<unicode string>", position 3'),
])
def test_what_is_not_a_yaml_mapping_is_named_by_line_and_column(data, message):
    with pytest.raises(ValueError) as err:
        _yamledit.yaml_parses(data)
    assert str(err.value) == message and 'sk-secret' not in str(err.value)


def test_a_yaml_mapping_passes_and_bytes_that_are_not_utf8_do_not():
    assert _yamledit.yaml_parses(b'models:\n  rollout_percentage: 5\n') is None
    with pytest.raises(UnicodeDecodeError):
        _yamledit.yaml_parses(b'models: \xff\n')


def test_an_error_without_marks_is_its_words_alone():
    error = yaml.MarkedYAMLError(context='while reading', context_mark=None, problem='found a tab', problem_mark=None)
    assert _yamledit._yaml_error(error) == 'while reading: found a tab'  # pylint: disable=protected-access
