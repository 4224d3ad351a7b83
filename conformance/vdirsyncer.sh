#!/usr/bin/env bash
# Two-way round trip with vdirsyncer (PyPI) against a live Labelbook: discovery of My contacts and a label,
# initial sync, a server-side add, and client add / edit / delete reaching the server, in both books.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_vdirsyncer

WORK="$(mktemp -d)"
trap 'stop_server; rm -rf "$WORK"' EXIT
start_server "$WORK"

DAV_USER=alice@example.com
DAV_PASS=alice-password-1
printf '%s\n' "$DAV_PASS" | lb user add "$DAV_USER" --password-stdin > /dev/null
LABEL=$(lb label add "Team" --user "$DAV_USER")
card seed-1 "Seed One" > "$WORK/seed.vcf"
card seed-2 "Seed Two" >> "$WORK/seed.vcf"
lb import "$WORK/seed.vcf" --user "$DAV_USER" > /dev/null
card team-1 "Team One" > "$WORK/team.vcf"
lb import "$WORK/team.vcf" --user "$DAV_USER" --label "$LABEL" > /dev/null

mkdir -p "$WORK/local" "$WORK/status"
cat > "$WORK/config" <<CONF
[general]
status_path = "$WORK/status/"

[pair labelbook]
a = "server"
b = "local"
collections = ["from a"]
conflict_resolution = "a wins"

[storage server]
type = "carddav"
url = "$BASE/"
username = "$DAV_USER"
password = "$DAV_PASS"

[storage local]
type = "filesystem"
path = "$WORK/local/"
fileext = ".vcf"
CONF
vds() { "$VENV/bin/vdirsyncer" -c "$WORK/config" "$@"; }

{ yes || true; } | vds discover labelbook > "$WORK/discover.log" 2>&1 || { cat "$WORK/discover.log"; fail "discover"; }
vds sync > "$WORK/sync.log" 2>&1 || { cat "$WORK/sync.log"; fail "initial sync"; }
[[ -d "$WORK/local/contacts" && -d "$WORK/local/$LABEL" ]] || { ls -R "$WORK/local"; fail "discovery found My contacts and the label"; }
# My contacts holds the 2 seeds and the label's card (a label's contacts are contacts of their owner).
[[ $(ls "$WORK/local/contacts" | wc -l) -eq 3 ]] || fail "initial sync of My contacts: $(ls "$WORK/local/contacts")"
[[ $(ls "$WORK/local/$LABEL" | wc -l) -eq 1 ]] || fail "initial sync of the label"
grep -l "FN:Team One" "$WORK/local/$LABEL"/*.vcf > /dev/null || fail "label card content"
pass "discovery and initial sync"

# Server-side add reaches the client.
card server-1 "From Server" | curl -sf -o /dev/null -X PUT -u "$DAV_USER:$DAV_PASS" -H 'Content-Type: text/vcard' \
    --data-binary @- "$BASE/dav/addressbooks/$DAV_USER/contacts/server-1.vcf" || fail "server-side PUT"
vds sync > "$WORK/sync.log" 2>&1 || { cat "$WORK/sync.log"; fail "sync after server add"; }
grep -l "FN:From Server" "$WORK/local/contacts"/*.vcf > /dev/null || fail "server-side add reached the client"
pass "server add → client"

# Client add, in My contacts and in the label.
card client-1 "From Client" > "$WORK/local/contacts/client-1.vcf"
card client-team-1 "Client Team" > "$WORK/local/$LABEL/client-team-1.vcf"
vds sync > "$WORK/sync.log" 2>&1 || { cat "$WORK/sync.log"; fail "sync after client add"; }
[[ $(http_status GET "$BASE/dav/addressbooks/$DAV_USER/contacts/client-1.vcf") == 200 ]] || fail "client add reached the server"
[[ $(http_status GET "$BASE/dav/addressbooks/$DAV_USER/$LABEL/client-team-1.vcf") == 200 ]] || fail "client add in the label"
# A card added to the label is a contact of the owner: it shows in My contacts too.
curl -sf -u "$DAV_USER:$DAV_PASS" "$BASE/dav/addressbooks/$DAV_USER/contacts/client-team-1.vcf" | grep -q "FN:Client Team" \
    || fail "a card added in a label is in My contacts"
pass "client add → server (My contacts and label)"

# Client edit.
sed -i 's/FN:From Client/FN:Edited By Client/' "$WORK/local/contacts/client-1.vcf"
vds sync > "$WORK/sync.log" 2>&1 || { cat "$WORK/sync.log"; fail "sync after client edit"; }
curl -sf -u "$DAV_USER:$DAV_PASS" "$BASE/dav/addressbooks/$DAV_USER/contacts/client-1.vcf" | grep -q "FN:Edited By Client" \
    || fail "client edit reached the server"
pass "client edit → server"

# Client delete: in the label only the label goes; in My contacts the contact goes.
rm "$WORK/local/$LABEL/client-team-1.vcf" "$WORK/local/contacts/client-1.vcf"
vds sync > "$WORK/sync.log" 2>&1 || { cat "$WORK/sync.log"; fail "sync after client delete"; }
[[ $(http_status GET "$BASE/dav/addressbooks/$DAV_USER/contacts/client-1.vcf") == 404 ]] || fail "client delete reached the server"
[[ $(http_status GET "$BASE/dav/addressbooks/$DAV_USER/$LABEL/client-team-1.vcf") == 404 ]] || fail "client delete in the label"
[[ $(http_status GET "$BASE/dav/addressbooks/$DAV_USER/contacts/client-team-1.vcf") == 200 ]] \
    || fail "removing a card from a label keeps the contact"
# A further sync has nothing left to do and must not fail.
vds sync > "$WORK/sync.log" 2>&1 || { cat "$WORK/sync.log"; fail "final sync"; }
pass "client delete → server"
echo "vdirsyncer round trip: 5 passed, 0 failed"
