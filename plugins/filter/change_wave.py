# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters genesis.model_ops.change_summary, agent_statuses and remediation_markdown: the change wave's decisions
on a host, and its run report in words (plugin_utils/_wave.py). The docs are in the YAML file of each filter's name."""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils import _wave
from ansible_collections.genesis.model_ops.plugins.plugin_utils._filters import filter_map


class FilterModule:

    def filters(self):
        return filter_map({'change_summary': _wave.change_summary, 'agent_statuses': _wave.agent_statuses,
                           'remediation_markdown': _wave.remediation_markdown})
