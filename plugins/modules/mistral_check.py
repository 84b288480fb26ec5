# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mistral_check
short_description: Check a Mistral API key and model ids the way the Model Failure Runbook does
version_added: 0.1.0
description:
  - Runs the runbook's I(Check API Credentials), I(Check Model Registry Status) and I(Test Fallback) steps against
    the Mistral API, through the C(mistralai) SDK, and reports what it found as data and as findings.
  - Checks the key once with C(GET /v1/models) and says whether it authenticates, and whether it was refused
    with 401 or 403.
  - Checks each distinct model id once, however often it is listed (fine-tuned ids and their baselines alike),
    with C(GET /v1/models/{id}) by default, which costs no tokens. O(probe=chat) sends a one-token chat
    completion instead; O(chat_models) does so for some ids only (the runbook's fallback test on the baselines).
    The model checks run side by side (O(concurrency)).
  - A model the API does not know (404, or 400 C(invalid_model)) is reported C(retired), with date and
    replacement, when it or the base of a fine-tuned id is in O(retired_models); otherwise missing.
  - When the key is refused, the API cannot be reached, answers 5xx or is at its rate limit (429), the models
    are not called at all, since each would fail the same way; each says why it was not checked.
  - The call budget holds whatever the API does, at most one call for the key and one per distinct model,
    as a rate-limit incident must not get more load from its diagnosis. A 429 or a 5xx is the evidence,
    reported with its quota headers (C(x-ratelimit-*), C(Retry-After)), and not retried; the SDK's retries are
    off on every call and the module's own (O(retries)) are off by default. Every HTTP call is counted
    (RV(api_calls)).
  - Read-only. Run it on the controller, once per distinct key, not once per host (C(delegate_to=localhost)
    and C(run_once=true)), because a hundred hosts must not multiply the calls during a rate-limit incident.
options:
  models:
    description:
      - Model ids to check, fine-tuned ones (C(ft:...)) and baselines.
      - Duplicates are checked once; the result keeps the first-seen order.
    type: list
    elements: str
    default: []
  probe:
    description:
      - How a model is checked.
      - C(retrieve) reads the model card (C(client.models.retrieve)); no tokens; gives type, archived
        and deprecation.
      - C(chat) sends a chat completion with C(max_tokens=1) to each model, the runbook's own test. It proves
        the model answers but spends tokens (RV(tokens_spent)) and counts against the rate limit.
        It also runs in check mode.
    type: str
    choices: [retrieve, chat]
    default: retrieve
  chat_models:
    description:
      - Model ids checked with a one-token chat completion (C(max_tokens=1)) whatever O(probe) says, and added
        to O(models) when not there. The runbook's I(Test Fallback Mechanism) is this on the baselines, the
        models a failing request falls back to.
      - Spends tokens (RV(tokens_spent)); still one call per id.
    type: list
    elements: str
    default: []
  concurrency:
    description:
      - How many model checks may run at the same time, from 1 to 64. The key check always runs first, alone.
    type: raw
    default: 8
  retries:
    description:
      - How many times one call is retried after a 429 or a 500/502/503/504 answer.
      - The default, 0, keeps the budget of one call per key and model; the answer is reported as it came.
      - Timeouts and connection errors are never retried.
    type: raw
    default: 0
  max_retry_wait:
    description:
      - Seconds the module may spend waiting between retries, in total over the whole run.
      - The wait is C(Retry-After) when the API sends one, else 1, 2, 4 ... seconds. A wait that does not fit
        in what is left of this budget is not started, and the call is reported as it failed.
    type: raw
    default: 30.0
  retired_models:
    description:
      - Known retirements, by model id. Each value is a dict with C(retired_on) (a date) and optionally
        C(replacement) (the model id to move to).
      - Used only to explain a 404 or 400 C(invalid_model) answer; a fine-tuned id C(ft:<base>:...) whose base
        is listed is reported retired with its base.
      - Setting this option replaces the default list.
    type: dict
    default:
      open-mistral-7b:
        retired_on: '2025-03-30'
        replacement: ministral-8b-latest
      open-mixtral-8x7b:
        retired_on: '2025-03-30'
        replacement: mistral-small-latest
notes:
  - Error messages in the result carry the API's answer, never the key; they are scrubbed of the key anyway.
  - The result never fails the task for what it finds; a playbook decides from RV(findings).
extends_documentation_fragment:
  - genesis.model_ops.mistral_api
  - genesis.model_ops.attributes
  - genesis.model_ops.attributes.read_only
seealso:
  - name: Mistral models API
    description: The calls the module makes.
    link: https://docs.mistral.ai/api/#tag/models
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Check the fleet's key and every agent's models, once for the whole play
  genesis.model_ops.mistral_check:
    models:
      - ft:ministral-8b-2512:587a6b29:20251014:7e773925
      - ministral-8b-2512
      - ft:mistral-small-2506:587a6b29:20251015:9a8b7c6d
      - mistral-small-2506
  environment:
    MISTRAL_API_KEY: "{{ vault_mistral_api_key }}"
  delegate_to: localhost
  run_once: true
  register: mistral

- name: Stop when the key is refused
  ansible.builtin.assert:
    that: mistral.key.authenticated is not false
    fail_msg: "Key {{ mistral.key.fingerprint }} refused ({{ mistral.key.status }})"
  run_once: true

- name: The runbook's own test, a one-token chat per model, against the lab simulator
  genesis.model_ops.mistral_check:
    api_key: "{{ lab_mistral_key }}"
    server_url: http://127.0.0.1:8600
    models: "{{ groups['genesis'] | map('extract', hostvars, 'genesis_models') | flatten | unique }}"
    probe: chat
    timeout: 5
  delegate_to: localhost
  run_once: true
  register: mistral

- name: The runbook's fallback test, a one-token chat with each baseline; the fine-tuned ids retrieved (no tokens)
  genesis.model_ops.mistral_check:
    models: [ft:ministral-8b-2512:587a6b29:20251014:7e773925, ft:mistral-small-2506:587a6b29:20251015:9a8b7c6d]
    chat_models: [ministral-8b-2512, mistral-small-2506]
  delegate_to: localhost
  run_once: true
  register: mistral

- name: What is retired and what to move to
  ansible.builtin.debug:
    msg: "{{ item.key }} retired on {{ item.value.retired_on }}, use {{ item.value.replacement }}"
  loop: "{{ mistral.models | dict2items | selectattr('value.retired') }}"
  run_once: true
"""

RETURN = r"""
key:
  description: What the key check (C(GET /v1/models), one call) said.
  returned: always
  type: dict
  contains:
    authenticated:
      description: V(true) when the key was accepted, V(false) on 401 or 403, V(null) when the API did not say.
      type: bool
    status:
      description: HTTP status of the answer, V(null) when there was none.
      type: int
    error_kind:
      description: >-
        V(null) on success, else one of V(auth), V(rate_limited), V(not_found), V(invalid_model), V(server_error),
        V(timeout), V(connect), V(api_error).
      type: str
    message:
      description: The API's error message, or V(null).
      type: str
    fingerprint:
      description: First 8 hex digits of the key's SHA-256. Never any part of the key.
      type: str
    headers:
      description: The answer's quota headers (C(x-ratelimit-*), C(retry-after)), names in lower case.
      type: dict
  sample: {authenticated: false, status: 401, error_kind: auth, message: "HTTP 401: Unauthorized", fingerprint: 3f2a9c1d, headers: {}}
models:
  description: Keyed by model id, one entry per distinct id in first-seen order; each entry holds the keys below.
  returned: always
  type: dict
  contains:
    checked:
      description: V(false) when the model was not called because the key check failed (RV(models.message) says why).
      type: bool
    probe:
      description: V(retrieve) or V(chat), how it was checked; V(null) when it was not.
      type: str
    exists:
      description: V(true) when the API knows the model, V(false) on 404 or 400 C(invalid_model), V(null) when unknown.
      type: bool
    type:
      description: V(base) or V(fine-tuned), from the model card, else from the id.
      type: str
    archived:
      description: Whether the fine-tuned model is archived (V(null) when not read).
      type: bool
    deprecated:
      description: Whether the API announces a deprecation for the model.
      type: bool
    deprecation:
      description: Date the deprecated model goes away.
      type: str
    retired:
      description: V(true) when the model is gone and listed in O(retired_models).
      type: bool
    retired_on:
      description: Retirement date from O(retired_models).
      type: str
    replacement:
      description: Model to move to, from the API's deprecation or from O(retired_models).
      type: str
    http_status:
      description: HTTP status of the last answer for this model.
      type: int
    error_kind:
      description: As RV(key.error_kind).
      type: str
    message:
      description: What was found, in words; for a model not checked, why (the key refused, the API rate limited, unavailable or unreachable).
      type: str
    headers:
      description: The quota headers of the answer for this model (C(x-ratelimit-*), C(retry-after)).
      type: dict
  sample:
    open-mistral-7b:
      checked: true
      probe: retrieve
      exists: false
      type: base
      archived: null
      deprecated: null
      deprecation: null
      retired: true
      retired_on: '2025-03-30'
      replacement: ministral-8b-latest
      http_status: 404
      error_kind: not_found
      message: retired on 2025-03-30; replacement ministral-8b-latest
      headers: {x-ratelimit-limit-req-minute: '60000', x-ratelimit-remaining-req-minute: '59990'}
rate_limit:
  description: What the API said about its rate limit.
  returned: always
  type: dict
  contains:
    headers:
      description: >-
        The C(x-ratelimit-*) headers of the last 429 answer, or of the last answer when there was no 429.
      type: dict
    limited:
      description: Number of 429 answers, retries included.
      type: int
    retry_after:
      description: The last C(Retry-After) seen, in seconds.
      type: float
    waited:
      description: Seconds spent waiting between retries.
      type: float
  sample: {headers: {x-ratelimit-remaining-req-minute: '0'}, retry_after: 5.0, limited: 2, waited: 5.0}
api_calls:
  description: HTTP calls made, the key check and retries included.
  returned: always
  type: int
  sample: 8
checked_at:
  description: When the checks started, UTC.
  returned: always
  type: str
  sample: "2025-10-31T12:05:01Z"
elapsed_s:
  description: Seconds the checks took, from the key check to the last model's answer.
  returned: always
  type: float
  sample: 0.42
tokens_spent:
  description: Sum of C(usage.total_tokens) of the chat probes; 0 with O(probe=retrieve) and no O(chat_models).
  returned: always
  type: int
  sample: 0
summary:
  description: Counts over RV(models).
  returned: always
  type: dict
  contains:
    requested:
      description: Ids given (O(models) and O(chat_models)), duplicates included.
      type: int
    distinct:
      description: Distinct ids.
      type: int
    checked:
      description: Ids actually called.
      type: int
    available:
      description: Ids the API knows.
      type: int
    missing:
      description: Ids the API does not know and that are not known retirements.
      type: int
    retired:
      description: Known retirements.
      type: int
    deprecated:
      description: Ids with a deprecation announced.
      type: int
    archived:
      description: Archived fine-tuned ids.
      type: int
    unknown:
      description: Ids whose state is unknown (the call failed otherwise).
      type: int
    findings:
      description: Number of findings.
      type: int
  sample: {requested: 10, distinct: 7, checked: 7, available: 6, missing: 0, retired: 1, deprecated: 0, archived: 0, unknown: 0, findings: 1}
findings:
  description: What needs attention, in the runbook's terms; the key check's first, then the models' in order.
  returned: always
  type: list
  elements: dict
  contains:
    code:
      description: >-
        V(key_rejected), V(rate_limited), V(model_missing), V(model_retired), V(model_deprecated),
        V(model_archived), V(api_unreachable) or V(api_error).
      type: str
    severity:
      description: V(critical) or V(warning).
      type: str
    model:
      description: The model id, V(null) for the key check.
      type: str
    message:
      description: What was found and what to do.
      type: str
    evidence:
      description: >-
        The facts behind the finding, as data: C(http_status) and C(error_kind), and where they apply C(fingerprint),
        C(server_url), C(retired_on), C(deprecation), C(replacement).
      type: dict
  sample:
    - code: model_retired
      severity: critical
      model: open-mistral-7b
      message: "Model open-mistral-7b is retired: retired on 2025-03-30; replacement ministral-8b-latest."
      evidence: {http_status: 404, error_kind: not_found, retired_on: '2025-03-30', replacement: ministral-8b-latest}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.genesis.model_ops.plugins.module_utils._mistral import (
    DEFAULT_RETIRED_MODELS,
    HAS_MISTRALAI,
    MISTRAL_API_ARGSPEC,
    MISTRALAI_IMPORT_ERROR,
    run,
    validate,
)


def main():
    argument_spec = dict(
        MISTRAL_API_ARGSPEC,
        models=dict(type='list', elements='str', default=[]),
        probe=dict(type='str', choices=['retrieve', 'chat'], default='retrieve'),
        chat_models=dict(type='list', elements='str', default=[]),
        concurrency=dict(type='raw', default=8),
        retries=dict(type='raw', default=0),
        max_retry_wait=dict(type='raw', default=30.0),
        retired_models=dict(type='dict', default=DEFAULT_RETIRED_MODELS),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)

    error = validate(module.params)
    if module.params['api_key']:
        module.no_log_values.add(module.params['api_key'])  # the key as it is used: stripped of what no_log knew
    if error:
        module.fail_json(msg=error)
    if not HAS_MISTRALAI:
        module.fail_json(msg=missing_required_lib('mistralai'), exception=MISTRALAI_IMPORT_ERROR)

    result = run(module.params, secrets=module.no_log_values)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
