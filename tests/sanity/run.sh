#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships: build it, unpack it under
# ansible_collections/genesis/model_ops in a temp dir, run every sanity test there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv"
# ansible-test downloads a pip bootstrap script from a host this machine cannot reach.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cp "$root/tests/sanity/get_pip_standin.py" "$cache/get_pip_24_2.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$venv/bin/ansible-galaxy" collection build --force --output-path "$work" "$root" >/dev/null
dest="$work/ansible_collections/genesis/model_ops"
mkdir -p "$dest"
tar -xzf "$work"/genesis-model_ops-*.tar.gz -C "$dest"
cd "$dest"
# ansible-test takes the file list from git when there is a repository.
printf "/tests/output/\n" > .gitignore
git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity
PATH="$venv/bin:$PATH" "$venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
