"""Where the lab keeps its state, and the two API keys it hands out."""

import json
import os
import secrets
import string
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 32


MAX_NET = 99


def net():
    """Which lab on this machine: ``$GENESIS_LAB_NET``, 0 (the default) to 99. Lab N has its own host
    addresses (127.N.x.y), ports (Mistral 8600+N, Prometheus 9090+N), state folder and inventory, so
    several labs can run side by side (the test suite runs one per worker)."""
    value = os.environ.get("GENESIS_LAB_NET") or "0"
    if not value.isdigit() or int(value) > MAX_NET:
        raise ValueError(f"GENESIS_LAB_NET={value!r} is not allowed: give a number from 0 to {MAX_NET}")
    return int(value)


def state_dir(number=None):
    """Lab ``number``'s state folder (default: this lab's): ``.lab`` (lab N > 0: ``.lab-N``) at the root of the
    clone; ``$GENESIS_LAB_DIR`` overrides this lab's."""
    if number is None:
        number = net()
        if os.environ.get("GENESIS_LAB_DIR"):
            return Path(os.environ["GENESIS_LAB_DIR"])
    return REPO / (".lab" if number == 0 else f".lab-{number}")


def inventory_dir(number=None):
    """Where `lab up` writes lab ``number``'s inventory (default: this lab's): ``inventories/lab`` (lab N > 0:
    ``inventories/lab-N``)."""
    number = net() if number is None else number
    return REPO / "inventories" / ("lab" if number == 0 else f"lab-{number}")


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
