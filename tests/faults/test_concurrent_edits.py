# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""50 processes each set a different key of one production.yaml at the same moment, 5 rounds: no update lost."""

from __future__ import annotations

import os

import yaml

from ansible_collections.genesis.model_ops.plugins.module_utils._config import edit_config
from tests.faults.test_lock_races import at_once

EDITORS, ROUNDS = int(os.environ.get('FAULTS_EDITORS', 50)), int(os.environ.get('FAULTS_ROUNDS', 5))
AGENTS = ['agent_%02d' % number for number in range(EDITORS)]
TEXT = '# site config: comments and key order survive\nserver: {port: 8080}\nmodels:\n  use_finetuned: true\n  agents:\n' + ''.join(
    '    %s: {finetuned: "ft:open-mistral-7b:587a6b29:20240514:%08d", baseline: open-mistral-7b, use_finetuned: true}\n'
    % (name, number) for number, name in enumerate(AGENTS))


def edit_all_at_once(path, value):
    """EDITORS processes, at the same moment, each set its agent's use_finetuned to value; their exit codes."""
    return at_once(EDITORS, lambda number: edit_config(
        path, ['models', 'agents', AGENTS[number], 'use_finetuned'], value, lock_timeout=600) and None)[0]


def test_concurrent_edits_of_different_keys_lose_no_update(shm_tmp, tally):
    path = os.path.join(shm_tmp, 'production.yaml')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(TEXT)
    lost, failed = 0, 0
    for round_ in range(ROUNDS):
        value = round_ % 2 == 1  # false, true, false ...: every round changes every key
        codes = edit_all_at_once(path, value)
        failed += sum(code != 0 for code in codes)
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        agents = yaml.safe_load(text)['models']['agents']
        lost += sum(agents[name]['use_finetuned'] is not value for name in AGENTS)
        # nothing but those values changed: the text is the original with each agent's flag set
        lost += text != TEXT.replace('use_finetuned: true}', 'use_finetuned: %s}' % ('true' if value else 'false'))
    tally.record('concurrent edits of different keys (%d processes, %d rounds)' % (EDITORS, ROUNDS), EDITORS * ROUNDS,
                 lost + failed, lost_updates=lost, failed_edits=failed)
    assert (lost, failed) == (0, 0)
