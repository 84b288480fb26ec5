# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:

    # How a module reaches the Mistral API: the key, the server, how long one call may take.
    DOCUMENTATION = r"""
options:
  api_key:
    description:
      - The Mistral API key to check and to authenticate with.
      - If not set, the value of the E(MISTRAL_API_KEY) environment variable on the host that runs the module
        (normally the controller) is used.
      - The module fails when neither is set. The key is never returned or logged; results identify it by
        a fingerprint, the first 8 hex digits of its SHA-256.
      - Whitespace around the key (the newline a vault value or an environment variable often ends in) is dropped,
        and the fingerprint is that of the key without it. A key holding whitespace inside, a control character or a
        character that is not ASCII is refused, with a message that does not show it.
    type: str
  server_url:
    description:
      - Base URL of the Mistral API, without C(/v1).
      - Point it at a proxy, a regional endpoint, or the lab simulator (C(http://127.0.0.1:8600)).
    type: str
    default: https://api.mistral.ai
  timeout:
    description:
      - Seconds one HTTP call may take in all, connecting, sending and the whole answer, before it is abandoned and
        reported as a C(timeout). An answer that comes a byte at a time is cut off then, as one that does not come.
      - Also passed to the SDK (as C(timeout_ms), which bounds each read), since SDKs older than 2.4.13 have no timeout
        of their own.
    type: raw
    default: 10.0
requirements:
  - mistralai >= 1.0 (SDK 1.x and 2.x or later import paths both work)
"""
