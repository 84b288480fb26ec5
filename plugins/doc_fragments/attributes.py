# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:

    # Attributes every module of this collection shares.
    DOCUMENTATION = r"""
options: {}
notes:
  - An option that is a number takes an integer, a float (where a fraction is allowed) or a string of plain ASCII
    digits such as V("30") or V("2.5"). Anything else is refused with a message naming the value and what is
    allowed, nothing changed; so are a sign, surrounding spaces, a newline, an exponent, V(nan), V(inf), and digits
    of another script.
attributes:
  action_group:
    description: Use C(group/genesis.model_ops.model_ops) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - genesis.model_ops.model_ops
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
"""

    # The check and diff mode of a module that only reads.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Read-only; it does in check mode exactly what it does in a normal run.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
"""
