#!/usr/bin/env bash
# Create bench/.stock-venv with stock Hangar 0.5.2, the baseline that
# bench/stock_hangar/workloads.py measures against.
#
#   bash bench/stock_hangar/setup.sh          # idempotent
#   bench/.stock-venv/bin/python bench/stock_hangar/workloads.py 100000
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$here")/.stock-venv"
python="${STOCK_PYTHON:-python3}"
stamp="$venv/.installed"
pins="$here/requirements.txt"

if [[ -f "$stamp" ]] && cmp -s "$stamp" "$pins"; then
    echo "stock hangar venv up to date: $venv"
    exit 0
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$pins"
"$venv/bin/python" -c 'import hangar; print("stock hangar", hangar.__version__, "ready in '"$venv"'")'
cp "$pins" "$stamp"
