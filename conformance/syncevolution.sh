#!/usr/bin/env bash
# Two-way round trip with Debian's SyncEvolution (CardDAV backend ⇄ local file backend, keyring=no) against a
# live Labelbook: slow sync, a server-side add, and client add / edit / delete reaching the server.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! command -v syncevolution > /dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq > /dev/null
    apt-get install -y -qq syncevolution > /dev/null
fi

WORK="$(mktemp -d)"
trap 'stop_server; rm -rf "$WORK"' EXIT
start_server "$WORK"
# SyncEvolution keeps its configuration and state under XDG directories: keep them inside WORK.
export XDG_CONFIG_HOME="$WORK/xdg/config" XDG_DATA_HOME="$WORK/xdg/data" XDG_CACHE_HOME="$WORK/xdg/cache"

DAV_USER=bob@example.com
DAV_PASS=bob-password-1
printf '%s\n' "$DAV_PASS" | lb user add "$DAV_USER" --password-stdin > /dev/null
card seed-1 "Seed One" > "$WORK/seed.vcf"
card seed-2 "Seed Two" >> "$WORK/seed.vcf"
lb import "$WORK/seed.vcf" --user "$DAV_USER" > /dev/null
BOOK="$BASE/dav/addressbooks/$DAV_USER/contacts/"
LOCAL="$WORK/local"
mkdir -p "$LOCAL"

syncevolution --configure --template none keyring=no username="$DAV_USER" password="$DAV_PASS" syncURL="$BASE/" \
    addressbook/backend=carddav addressbook/database="$BOOK" target-config@labelbook addressbook > "$WORK/conf.log" 2>&1 \
    || { cat "$WORK/conf.log"; fail "configure the CardDAV side"; }
syncevolution --configure --template SyncEvolution_Client keyring=no syncURL=local://@labelbook username= password= \
    addressbook/backend=file addressbook/database="file://$LOCAL" addressbook/databaseFormat=text/vcard \
    addressbook/sync=two-way labelbook addressbook > "$WORK/conf.log" 2>&1 \
    || { cat "$WORK/conf.log"; fail "configure the local side"; }

sync() {
    timeout 120 syncevolution "$@" labelbook addressbook > "$WORK/sync.log" 2>&1 || { cat "$WORK/sync.log"; fail "sync $*"; }
    grep -q "Synchronization successful" "$WORK/sync.log" || { cat "$WORK/sync.log"; fail "sync $* reported trouble"; }
}

sync --sync slow
[[ $(ls "$LOCAL" | wc -l) -eq 2 ]] || fail "slow sync brought $(ls "$LOCAL" | wc -l) cards, expected 2"
grep -l "FN:Seed Two" "$LOCAL"/* > /dev/null || fail "slow sync content"
pass "slow sync"

card server-1 "From Server" | curl -sf -o /dev/null -X PUT -u "$DAV_USER:$DAV_PASS" -H 'Content-Type: text/vcard' \
    --data-binary @- "${BOOK}server-1.vcf" || fail "server-side PUT"
sync
grep -l "FN:From Server" "$LOCAL"/* > /dev/null || fail "server-side add reached the client"
pass "server add → client"

# Server-side edit and delete reach the client too.
card seed-1 "Seed One Edited" | curl -sf -o /dev/null -X PUT -u "$DAV_USER:$DAV_PASS" -H 'Content-Type: text/vcard' \
    --data-binary @- "${BOOK}seed-1.vcf" || fail "server-side edit"
[[ $(http_status DELETE "${BOOK}seed-2.vcf") == 204 ]] || fail "server-side delete"
sync
grep -l "FN:Seed One Edited" "$LOCAL"/* > /dev/null || fail "server-side edit reached the client"
! grep -l "FN:Seed Two" "$LOCAL"/* > /dev/null 2>&1 || fail "server-side delete reached the client"
pass "server edit and delete → client"

card client-1 "From Client" > "$LOCAL/client-1"
sync
HREF=$(curl -sf -u "$DAV_USER:$DAV_PASS" -X PROPFIND -H 'Depth: 1' \
    --data '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>' "$BOOK" \
    | grep -o '<d:href>[^<]*</d:href>' | sed 's/<[^>]*>//g' | while read -r h; do
        [[ "$h" == */ ]] && continue
        curl -sf -u "$DAV_USER:$DAV_PASS" "$BASE$h" | grep -q "FN:From Client" && echo "$h"
    done | head -1)
[[ -n "$HREF" ]] || fail "client add reached the server"
pass "client add → server"

sleep 1  # the file backend sees an edit by its modification time
sed -i 's/FN:From Client/FN:Edited By Client/' "$LOCAL/client-1"
touch "$LOCAL/client-1"
sync
curl -sf -u "$DAV_USER:$DAV_PASS" "$BASE$HREF" | grep -q "FN:Edited By Client" || fail "client edit reached the server"
pass "client edit → server"

rm "$LOCAL/client-1"
sync
[[ $(http_status GET "$BASE$HREF") == 404 ]] || fail "client delete reached the server"
pass "client delete → server"
echo "syncevolution round trip: 6 passed, 0 failed"
