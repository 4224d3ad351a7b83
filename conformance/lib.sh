# Shared by the conformance scripts: find the binary, start a server on a free port with fresh data, stop it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The binary the test step built; LABELBOOK_BIN overrides (e.g. a release build).
LABELBOOK_BIN="${LABELBOOK_BIN:-$ROOT/target/debug/labelbook}"
if [[ ! -x "$LABELBOOK_BIN" ]]; then
    (cd "$ROOT" && cargo build --quiet --bin labelbook)
fi

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# start_server WORKDIR: fresh data in WORKDIR/data, sets BASE and SERVER_PID. Admin: admin@localhost / admin-password.
start_server() {
    local work="$1"
    mkdir -p "$work/data"
    LABELBOOK_ADMIN_PASSWORD=admin-password LABELBOOK_LOG="${LABELBOOK_LOG:-warn}" \
        "$LABELBOOK_BIN" serve --listen 127.0.0.1:0 --data "$work/data" > "$work/server.out" 2> "$work/server.log" &
    SERVER_PID=$!
    for _ in $(seq 100); do
        BASE=$(sed -n 's/^Labelbook listening on \(http[^ ]*\)\/ .*/\1/p' "$work/server.out")
        [[ -n "$BASE" ]] && return 0
        sleep 0.1
    done
    cat "$work/server.log" >&2
    fail "the server did not start"
}

stop_server() {
    [[ -n "${SERVER_PID:-}" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

# ensure_vdirsyncer: vdirsyncer from PyPI in a virtualenv under target/ (kept between runs); sets VENV.
ensure_vdirsyncer() {
    VENV="$ROOT/target/conformance-venv"
    if [[ ! -x "$VENV/bin/vdirsyncer" ]]; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check 'vdirsyncer==0.19.*'
    fi
}

# lb ARGS...: the CLI on the same data directory.
lb() { "$LABELBOOK_BIN" --data "$WORK/data" "$@"; }

# card UID NAME: a vCard 3.0 as iPhones write them.
card() {
    printf 'BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Labelbook conformance//EN\r\nUID:%s\r\nFN:%s\r\nN:%s;;;;\r\nEMAIL;TYPE=INTERNET:%s@example.com\r\nEND:VCARD\r\n' "$1" "$2" "$2" "$1"
}

# http_status METHOD URL [curl args...]
http_status() {
    local method="$1" url="$2"; shift 2
    curl -s -o /dev/null -w '%{http_code}' -X "$method" -u "$DAV_USER:$DAV_PASS" "$@" "$url"
}
