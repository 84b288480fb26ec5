"""Stand-in for the pip bootstrap script ansible-test downloads (its host is unreachable here).

ansible-test runs this as `python get_pip.py [pip args]` in each venv it makes: bootstrap pip
with ensurepip, then install what was asked for, minus the get-pip-only flags.
"""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
