# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:

    # How a module reads a Genesis health endpoint; the argument spec is
    # plugins/module_utils/_health.py's HEALTH_PROBE_ARGUMENT_SPEC.
    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Seconds one HTTP request to the health endpoint may take in all, connecting, the headers and the whole
        body. A server that answers slowly, a byte at a time, is cut off then, as one that does not answer.
    type: raw
    default: 10
  validate_certs:
    description: Verify the TLS certificate of an C(https) health endpoint.
    type: bool
    default: true
  fields:
    description:
      - JMESPath expressions that find each field in the payload. The defaults are the shape of the host
        contract (section 4); a site whose endpoint differs sets the ones that differ.
      - Service fields are read from the C(/health) payload; agent fields from one agent's object (an
        entry of the service's O(fields.agents), or the body of C(/health/<agent>)).
      - Plain paths (V(a.b), V(a."x-y"), V(a[0])) work everywhere; anything else needs the C(jmespath) package.
      - A payload lacking the service's status, its agents, or an agent's status, error_rate or fallback_rate
        is a V(missing_field) finding (as is a status that is not V(ok), V(degraded) or V(down)); the other
        fields are null when absent.
    type: dict
    suboptions:
      status:
        description: The service's status, V(ok), V(degraded) or V(down). When absent, the worst of the agents'.
        type: str
        default: status
      version:
        description: The service's version.
        type: str
        default: version
      started_at:
        description: When the service started.
        type: str
        default: started_at
      config:
        description: The config the service loaded, returned as it is.
        type: str
        default: config
      agents:
        description: The agents, an object by agent name (a list of objects with an C(agent) or C(name) key also works).
        type: str
        default: agents
      agent_status:
        description: An agent's status, V(ok), V(degraded) or V(down).
        type: str
        default: status
      model:
        description: The model an agent's requests go to now.
        type: str
        default: model
      finetuned_model:
        description: An agent's fine-tuned model id.
        type: str
        default: finetuned_model
      baseline_model:
        description: An agent's baseline model id.
        type: str
        default: baseline_model
      requests:
        description: An agent's requests in the window.
        type: str
        default: requests
      errors:
        description: An agent's failed requests in the window.
        type: str
        default: errors
      fallbacks:
        description: An agent's requests answered by the baseline after a fine-tuned failure.
        type: str
        default: fallbacks
      error_rate:
        description: An agent's error rate, 0 to 1.
        type: str
        default: error_rate
      fallback_rate:
        description: An agent's fallback rate, 0 to 1.
        type: str
        default: fallback_rate
      last_error:
        description: An agent's last error, an object with C(at), C(status), C(message) (a string is taken as the message).
        type: str
        default: last_error
  error_rate_threshold:
    description:
      - An agent whose error rate is above this gets an V(error_rate_high) finding and is at least V(degraded).
      - The runbook's alert threshold. A site may set a stricter one than its service's.
    type: raw
    default: 0.05
  fallback_rate_threshold:
    description: Like O(error_rate_threshold), for the fallback rate (V(fallback_rate_high)).
    type: raw
    default: 0.10
"""
