# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters genesis.model_ops.model_uses, model_unavailable_agents and preflight_findings: the models the
configs name, and what the Mistral API's answers mean for them (plugin_utils/_models.py). The docs are in
the YAML file of each filter's name."""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils import _models
from ansible_collections.genesis.model_ops.plugins.plugin_utils._filters import filter_map


class FilterModule:

    def filters(self):
        return filter_map({'model_uses': _models.model_uses, 'model_unavailable_agents': _models.model_unavailable_agents,
                           'preflight_findings': _models.preflight_findings})
