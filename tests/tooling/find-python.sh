#!/usr/bin/env bash
# Print the path of a Python 3.12 or later for the controller tools (ansible-core
# 2.21 needs it). Tried in order: python3.13 and python3.12 on PATH, then the
# same versions installed by pyenv (or uv) but not put on PATH, then any
# `python3` on PATH that is 3.12 or later. Exits 1 with advice when none is found.
set -euo pipefail

ok() {  # ok PATH: true when PATH runs a Python of 3.12 or later
    [[ -x $1 ]] && "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null
}

candidates=()
for name in python3.13 python3.12; do
    if path=$(command -v "$name" 2>/dev/null); then candidates+=("$path"); fi
done
shopt -s nullglob
for minor in 13 12; do
    for root in "${PYENV_ROOT:-$HOME/.pyenv}/versions" "$HOME/.local/share/uv/python" /opt/pyenv/versions; do
        # Newest patch release first.
        while IFS= read -r dir; do
            [[ -n $dir ]] && candidates+=("$dir/bin/python3.$minor")
        done < <(printf '%s\n' "$root"/3.$minor.* "$root"/cpython-3.$minor.* | sort -rV)
    done
done
if path=$(command -v python3 2>/dev/null); then candidates+=("$path"); fi

for path in "${candidates[@]}"; do
    if ok "$path"; then
        echo "$path"
        exit 0
    fi
done
cat >&2 <<'MSG'
No Python 3.12 or later was found (looked for python3.13, python3.12 and python3 on PATH,
and in ~/.pyenv/versions). The controller tools (ansible-core 2.21) need one. Either:
  - Debian 13 / Ubuntu 24.04: apt-get install python3 python3-venv
  - pyenv: pyenv install 3.13   (no need to put it on PATH; make finds it)
  - or name one yourself: make PYTHON=/path/to/python3.12 ...
MSG
exit 1
