# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:

    # The options and behaviour of the modules that set one value in production.yaml; with
    # genesis.model_ops.file_edit, plugins/module_utils/_config.py's CONFIG_ARGUMENT_SPEC.
    DOCUMENTATION = r"""
options:
  path:
    description:
      - The Genesis C(production.yaml) to edit.
    type: path
    default: /opt/genesis/infrastructure/config/production.yaml
    aliases: [dest]
  backup:
    description:
      - Keep a copy of the old file, with its mode, owner and modification time, as
        C(<path>.<YYYYmmddTHHMMSSffffff>Z.bak) beside it (beside the target of a symlink).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads the file and reports what a run would do. Writes nothing, not even the lock file or a backup.
  diff_mode:
    support: full
    description:
      - Returns the whole file before and after the edit, with every value that looks secret replaced by
        C(********) in the same way on both sides, so the diff still shows exactly the changed line.
      - Masked are the value of a key whose name holds C(key), C(token), C(secret), C(password), C(passphrase),
        C(credential), C(auth), C(dsn) or C(signature) (a number, a boolean or null stays when the name only
        contains such a word, as C(max_tokens) does; a name ending in C(_env), C(_file), C(_path), C(_url),
        C(_name), C(_id) or C(_fingerprint), such as C(key_env) naming a variable, holds no secret), with the lines
        of a block scalar; the credential after C(Bearer), C(Basic) or C(Token); the password of a URL
        (C(postgres://user:********@host)); the path of a webhook URL; token-like parts of a URL's path or
        query; and any run of 32 or more letters and digits outside an C(ft:) model id.
      - A YAML error names the line and column but does not quote the line.
notes:
  - A run that changes the file creates C(<path>.lock) and leaves it; removing it while a run waits would let two runs
    edit the file at once.
  - A value, or a mapping on the way to it, shared through a YAML anchor and alias is refused, since changing it
    would change every alias.
"""
