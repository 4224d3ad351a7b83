#!/usr/bin/env bash
# deploy/compose.yaml checked without Docker (conformance/deploy_check.py): its syntax and references, and that
# it agrees with the server (variables it reads) and with deploy/Caddyfile. The checker must also refuse a copy
# with a misspelt variable and one whose proxy forgets a node, so a checker that passes everything fails here.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/target/deploy-venv"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import yaml' 2> /dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'pyyaml==6.*'
fi
CHECK=("$VENV/bin/python" "$ROOT/conformance/deploy_check.py")
"${CHECK[@]}" "$ROOT/deploy/compose.yaml" "$ROOT/src"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$ROOT/deploy/compose.yaml" "$ROOT/deploy/Caddyfile" "$WORK/"
sed -i 's/LABELBOOK_TRUSTED_PROXIES:/LABELBOOK_TRUSTED_PROXY:/' "$WORK/compose.yaml"
if "${CHECK[@]}" "$WORK/compose.yaml" "$ROOT/src" 2> /dev/null; then
    echo "the checker passed a misspelt variable" >&2
    exit 1
fi
cp "$ROOT/deploy/compose.yaml" "$WORK/"
sed -i 's/ node2:8080 {/ {/' "$WORK/Caddyfile"
if "${CHECK[@]}" "$WORK/compose.yaml" "$ROOT/src" 2> /dev/null; then
    echo "the checker passed a proxy that forgets a node" >&2
    exit 1
fi
echo "deploy/compose.yaml: ok"
