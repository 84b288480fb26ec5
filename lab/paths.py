"""Where the lab keeps its state, and the two API keys it hands out."""

import json
import os
import secrets
import string
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 32


def state_dir():
    """The lab's state folder: ``$GENESIS_LAB_DIR``, else ``.lab`` at the root of the clone."""
    return Path(os.environ.get("GENESIS_LAB_DIR") or REPO / ".lab")


def keys_file(state):
    """The JSON file holding the lab's keys: ``{"fleet": ..., "spare": ...}``."""
    return Path(state) / "secrets" / "keys.json"


def new_key():
    """A random key shaped like the lab's: 32 alphanumerics."""
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def load_keys(state):
    """The keys made by ``make_keys``; FileNotFoundError when there are none."""
    return json.loads(keys_file(state).read_text(encoding="utf-8"))


def make_keys(state):
    """Make a fresh fleet key and spare key, written mode 0600 in a 0700 folder, and return them."""
    path = keys_file(state)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is masked by the umask and ignored for an existing folder.
    path.parent.chmod(0o700)
    keys = {"fleet": new_key(), "spare": new_key()}
    partial = path.with_name(path.name + ".tmp")
    partial.unlink(missing_ok=True)
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(keys, handle)
    os.replace(partial, path)
    return keys
