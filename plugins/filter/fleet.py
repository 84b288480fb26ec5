# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters genesis.model_ops.health_targets, models_by_key, fleet_evidence, contract_errors,
slice_evidence and merge_slices: what a task run once for the
fleet reads of every host (plugin_utils/_fleet.py). The docs are in the YAML file of each filter's name."""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils import _fleet
from ansible_collections.genesis.model_ops.plugins.plugin_utils._filters import filter_map


class FilterModule:

    def filters(self):
        return filter_map({'health_targets': _fleet.health_targets, 'models_by_key': _fleet.models_by_key,
                           'fleet_evidence': _fleet.fleet_evidence,
                           'contract_errors': _fleet.contract_errors, 'slice_evidence': _fleet.slice_evidence,
                           'merge_slices': _fleet.merge_slices})
