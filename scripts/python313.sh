#!/usr/bin/env bash
# Print the path of a working python3.13 (the Lambda runtime's version), which `sam build` needs on PATH
# and which must compile the bytecode we ship. Tried in order: $PYTHON313, python3.13 on PATH (a pyenv
# shim only counts if it really runs), pyenv's versions, common system locations, uv's managed Pythons.
set -euo pipefail

works() { [ -n "${1:-}" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; }
real_path() { "$1" -c 'import sys; print(sys.executable)'; }

candidates=("${PYTHON313:-}")
if command -v python3.13 >/dev/null 2>&1; then candidates+=("$(command -v python3.13)"); fi
pyenv_root="${PYENV_ROOT:-}"
if [ -z "$pyenv_root" ] && command -v pyenv >/dev/null 2>&1; then pyenv_root="$(pyenv root)"; fi
[ -z "$pyenv_root" ] && pyenv_root="$HOME/.pyenv"
for dir in $(ls -d "$pyenv_root"/versions/3.13* 2>/dev/null | sort -rV); do candidates+=("$dir/bin/python3.13"); done
candidates+=(/usr/local/bin/python3.13 /usr/bin/python3.13)
if command -v uv >/dev/null 2>&1; then candidates+=("$(uv python find 3.13 2>/dev/null || true)"); fi

for candidate in "${candidates[@]}"; do
    if works "$candidate"; then real_path "$candidate"; exit 0; fi
done
echo "python3.13 not found: install it (e.g. 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13" >&2
exit 1
