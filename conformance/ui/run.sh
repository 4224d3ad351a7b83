#!/usr/bin/env bash
# The dashboard in a real browser: Playwright (npm playwright-core) drives Debian's Chromium headless through the
# seed product's flow (sign in, a colleague's account made in the browser, "+", name, collaborators, contacts,
# saved), the colleague accepting the invitation in a second browser context and seeing the label, and edits in
# one context (or over CardDAV) appearing live in the other, and the administrator setting up mail, after which an
# invitation arrives by e-mail (at a small SMTP server on 127.0.0.1) and its link works, and the label reaches
# both people's Google Contacts (a People API stand-in on 127.0.0.1) once connected. Then every page is
# audited with axe-core (WCAG 2 A/AA rules: labels, names, contrast, landmarks) and the seed's "+" flow is done
# with the keyboard alone.
# Screenshots of each step go to target/ui-shots/.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

if ! command -v chromium > /dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
NODE_DIR="$ROOT/target/ui-node"
if [[ ! -d "$NODE_DIR/node_modules/playwright-core" || ! -d "$NODE_DIR/node_modules/axe-core" ]]; then
    mkdir -p "$NODE_DIR"
    npm install --silent --no-audit --no-fund --prefix "$NODE_DIR" playwright-core@1.64.1 axe-core@4.14.1 > /dev/null
fi

WORK="$(mktemp -d)"
SINK_PID=""
GOOGLE_PID=""
trap 'stop_server; [[ -n "$SINK_PID" ]] && kill "$SINK_PID"; [[ -n "$GOOGLE_PID" ]] && kill "$GOOGLE_PID"; rm -rf "$WORK"' EXIT
# Google's People API stand-in: the administrator connects people's Google Contacts in the flow.
(cd "$ROOT" && cargo build --quiet --example google-emulator)
cp "$ROOT/conformance/google/test-service-account.json" "$WORK/google-key.json"
"$ROOT/target/debug/examples/google-emulator" "$WORK/google-key.json" > "$WORK/google.out" 2>&1 &
GOOGLE_PID=$!
for _ in $(seq 100); do
    GOOGLE=$(sed -n 's/^listening on \(http[^ ]*\) .*/\1/p' "$WORK/google.out")
    [[ -n "$GOOGLE" ]] && break
    sleep 0.1
done
[[ -n "$GOOGLE" ]] || fail "the Google stand-in did not start"
# No key configured: the administrator uploads it in the flow, as a newcomer would.
LABELBOOK_GOOGLE_PEOPLE_API_URL="$GOOGLE" LABELBOOK_GOOGLE_RETRY_BASE_MS=50 start_server "$WORK"
# A mail server for the settings page and a mailed invitation.
python3 "$ROOT/conformance/ui/smtp_sink.py" "$WORK/mail.txt" > "$WORK/sink.port" &
SINK_PID=$!
for _ in $(seq 50); do [[ -s "$WORK/sink.port" ]] && break; sleep 0.1; done
SMTP_PORT=$(cat "$WORK/sink.port")
[[ -n "$SMTP_PORT" ]] || fail "the test mail server did not start"

SHOTS="$ROOT/target/ui-shots"
rm -rf "$SHOTS" && mkdir -p "$SHOTS"
NODE_DIR="$NODE_DIR" BASE="$BASE" SHOTS="$SHOTS" SMTP_PORT="$SMTP_PORT" MAIL_FILE="$WORK/mail.txt" GOOGLE="$GOOGLE" \
    GOOGLE_KEY="$WORK/google-key.local.json" \
    ADMIN=admin@localhost ADMIN_PASSWORD=admin-password BOB=bob@localhost \
    node "$ROOT/conformance/ui/flow.mjs" || fail "the dashboard flow failed (screenshots in $SHOTS)"
if grep -q "panicked" "$WORK/server.log"; then
    grep -A5 "panicked" "$WORK/server.log" >&2
    fail "the server panicked during the run"
fi
pass "the dashboard's flow works in Chromium ($(ls "$SHOTS" | wc -l) screenshots in target/ui-shots)"
