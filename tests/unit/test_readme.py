# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README as a platform team reads it: the two commands that try it on the lab first, then the sections of the
best collections' READMEs in their order; the changelog with its release."""

from __future__ import annotations

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SECTIONS = ['Description', 'Requirements', 'Installation', 'Use with your inventory', 'Use in AWX', 'Use from CI', 'Alerts',
            'Develop', 'Release notes', 'License']


def read(name):
    with open(os.path.join(ROOT, name), encoding='utf-8') as handle:
        return handle.read()


def test_it_opens_with_the_two_commands():
    text = read('README.md')
    block = re.search(r'```bash\n(.*?)```', text, re.S)
    assert block and text.index(block.group(0)) < text.index('\n## ')
    assert [line.split('#')[0].strip() for line in block.group(1).splitlines()] == ['make demo', 'make test']


def test_the_sections_in_order():
    assert re.findall(r'^## (.+)$', read('README.md'), re.M) == SECTIONS


def test_the_changelog_has_its_release_and_the_readme_points_at_it():
    assert re.search(r'^v0\.2\.0\n=+$', read('CHANGELOG.rst'), re.M)
    notes = read('README.md').split('## Release notes', 1)[1].split('\n## ', 1)[0]
    assert 'CHANGELOG.rst' in notes
