#!/usr/bin/env bash
# Issue 3's "Done when": two users on different domains of one server, each with vdirsyncer, share a label at
# each level and observe exactly what that level allows; then hidden fields, and revocation.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ensure_vdirsyncer

WORK="$(mktemp -d)"
trap 'stop_server; rm -rf "$WORK"' EXIT
start_server "$WORK"

ANN=ann@example.com
BOB=bob@example.org
PASS_ANN=ann-password-1
PASS_BOB=bob-password-1
lb domain add example.com > /dev/null
lb domain add example.org > /dev/null
printf '%s\n' "$PASS_ANN" | lb user add "$ANN" --password-stdin > /dev/null
printf '%s\n' "$PASS_BOB" | lb user add "$BOB" --password-stdin > /dev/null
LABEL=$(lb label add "Partners" --user "$ANN")
{ card p-1 "Partner One" | sed 's/^END:VCARD/TEL;TYPE=CELL:+1 555 0100\r\nEND:VCARD/'; card p-2 "Partner Two"; } > "$WORK/seed.vcf"
lb import "$WORK/seed.vcf" --user "$ANN" --label "$LABEL" > /dev/null

# client NAME USER PASSWORD: a vdirsyncer of its own (config, status, local folder) for USER.
client() {
    local dir="$WORK/$1"
    mkdir -p "$dir/local" "$dir/status"
    cat > "$dir/config" <<CONF
[general]
status_path = "$dir/status/"

[pair labelbook]
a = "server"
b = "local"
collections = ["from a"]
conflict_resolution = "a wins"

[storage server]
type = "carddav"
url = "$BASE/"
username = "$2"
password = "$3"

[storage local]
type = "filesystem"
path = "$dir/local/"
fileext = ".vcf"
CONF
    { yes || true; } | "$VENV/bin/vdirsyncer" -c "$dir/config" discover labelbook > "$dir/discover.log" 2>&1 \
        || { cat "$dir/discover.log"; fail "$1: discover"; }
}
# sync NAME: succeeds or fails like vdirsyncer did; its output is in WORK/NAME/sync.log.
sync() { "$VENV/bin/vdirsyncer" -c "$WORK/$1/config" sync > "$WORK/$1/sync.log" 2>&1; }
must_sync() { sync "$1" || { cat "$WORK/$1/sync.log"; fail "$1: $2"; }; }
# local_file NAME UID: the file holding that card in NAME's copy of the label.
local_file() { grep -l "^UID:$2" "$WORK/$1/local/$LABEL"/*.vcf 2>/dev/null | head -1; }
# as USER PASSWORD METHOD PATH [curl args]: the HTTP status.
as() { local u="$1" p="$2" m="$3" path="$4"; shift 4; curl -s -o /dev/null -w '%{http_code}' -X "$m" -u "$u:$p" "$@" "$BASE$path"; }
ann_card() { curl -sf -u "$ANN:$PASS_ANN" "$BASE/dav/addressbooks/$ANN/$LABEL/$1"; }
# The names Ann's books give each card.
P1=$(curl -sf -u "$ANN:$PASS_ANN" -X PROPFIND -H 'Depth: 1' "$BASE/dav/addressbooks/$ANN/$LABEL/" \
    | grep -o "<d:href>[^<]*\.vcf</d:href>" | sed 's/<[^>]*>//g' | while read -r h; do
        if curl -sf -u "$ANN:$PASS_ANN" "$BASE$h" | grep -q '^UID:p-1'; then basename "$h"; fi; done)
[[ -n "$P1" ]] || fail "find p-1 in Ann's label"

client ann "$ANN" "$PASS_ANN"
must_sync ann "Ann's initial sync"
[[ -n "$(local_file ann p-1)" ]] || fail "Ann syncs her own label"

# share_with_bob LEVEL [CLIENT]: shares, Bob accepts, and a fresh client of his (named CLIENT, default bob-LEVEL)
# syncs the label.
share_with_bob() {
    local json c="${2:-bob-$1}"
    json=$(lb share "$LABEL" --as "$ANN" --with "$BOB" --level "$1" --json)
    GRANT=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$json")
    lb invitation accept "$GRANT" --user "$BOB" > /dev/null
    client "$c" "$BOB" "$PASS_BOB"
    must_sync "$c" "Bob's initial sync at $1"
    [[ -n "$(local_file "$c" p-1)" && -n "$(local_file "$c" p-2)" ]] || fail "Bob ($1) syncs the shared label"
}
unshare_bob() {
    lb grant revoke "$GRANT" --as "$ANN" > /dev/null
    [[ $(as "$BOB" "$PASS_BOB" PROPFIND "/dav/addressbooks/$BOB/$LABEL/" -H 'Depth: 0') == 404 ]] || fail "revoked: gone"
}

# --- view: Bob reads, and his client's edits are refused, changing nothing.
share_with_bob view
sed -i 's/^FN:Partner One/FN:Changed By Viewer/' "$(local_file bob-view p-1)"
if sync bob-view; then fail "a view-level edit must be refused"; fi
ann_card "$P1" | grep -q '^FN:Partner One' || fail "a refused edit changes nothing"
unshare_bob
pass "view: read only, edits refused and nothing changed"

# --- edit: Bob adds and edits, and Ann's client receives both; his deletes are refused.
share_with_bob edit
card bob-1 "Added By Bob" > "$WORK/bob-edit/local/$LABEL/bob-1.vcf"
sed -i 's/^FN:Partner Two/FN:Partner Two (edited by Bob)/' "$(local_file bob-edit p-2)"
must_sync bob-edit "Bob's add and edit"
must_sync ann "Ann's sync after Bob's changes"
[[ -n "$(local_file ann bob-1)" ]] || fail "Bob's new card reached Ann's client"
grep -q '^FN:Partner Two (edited by Bob)' "$(local_file ann p-2)" || fail "Bob's edit reached Ann's client"
rm "$(local_file bob-edit p-1)"
if sync bob-edit; then fail "an edit-level delete must be refused"; fi
[[ $(as "$ANN" "$PASS_ANN" GET "/dav/addressbooks/$ANN/$LABEL/$P1") == 200 ]] || fail "a refused delete changes nothing"
unshare_bob
pass "edit: add and edit reach the owner's client, deletes refused"

# --- hidden fields: Ann hides TEL from Bob; his client never sees it, and his edit keeps it.
share_with_bob edit bob-hidden
lb grant hide "$GRANT" --as "$ANN" --fields TEL > /dev/null
must_sync bob-hidden "Bob's sync after TEL was hidden"
if grep -q '555 0100' "$(local_file bob-hidden p-1)"; then fail "a hidden TEL reached Bob's client"; fi
sed -i 's/^FN:Partner One/FN:Partner One (renamed by Bob)/' "$(local_file bob-hidden p-1)"
must_sync bob-hidden "Bob's edit of a card with hidden fields"
ann_card "$P1" | grep -q '^FN:Partner One (renamed by Bob)' || fail "Bob's edit was stored"
ann_card "$P1" | grep -q '555 0100' || fail "Bob's edit kept the TEL he could not see"
lb grant hide "$GRANT" --as "$ANN" --fields "" > /dev/null
unshare_bob
pass "hidden fields: not synced to the collaborator, kept through his edit"

# --- delete: Bob removes a card from the label; Ann's client sees it leave the label, her contact stays.
share_with_bob delete
rm "$(local_file bob-delete bob-1)"
must_sync bob-delete "Bob's delete"
must_sync ann "Ann's sync after Bob's delete"
[[ -z "$(local_file ann bob-1)" ]] || fail "the removal reached Ann's client"
[[ -n "$(grep -l '^UID:bob-1' "$WORK/ann/local/contacts"/*.vcf)" ]] || fail "the contact stays in Ann's My contacts"
unshare_bob
pass "delete: removal reaches the owner's client, the contact stays hers"

# --- share: everything delete allows, plus the label's description; never its name.
share_with_bob share
DESC='<d:propertyupdate xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><C:addressbook-description>by Bob</C:addressbook-description></d:prop></d:set></d:propertyupdate>'
NAME='<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>Bob'"'"'s now</d:displayname></d:prop></d:set></d:propertyupdate>'
[[ $(as "$BOB" "$PASS_BOB" PROPPATCH "/dav/addressbooks/$BOB/$LABEL/" --data "$DESC") == 207 ]] || fail "share: description"
[[ $(as "$BOB" "$PASS_BOB" PROPPATCH "/dav/addressbooks/$BOB/$LABEL/" --data "$NAME") == 403 ]] \
    || fail "share: the name is the owner's"
card bob-2 "Bob Two" > "$WORK/bob-share/local/$LABEL/bob-2.vcf"
must_sync bob-share "Bob's add at share level"
rm "$(local_file bob-share bob-2)"
must_sync bob-share "Bob's delete at share level"
unshare_bob
must_sync ann "Ann's final sync"
pass "share: cards and the description, not the name; revocation removes the label"
# --- a Mac's one book (issue 3 §6): an app password with the single layout shows one book holding every card once
# and the label as a group card; taking a member off the group there takes the card off the label.
share_with_bob delete bob-delete-again
MAC_PASS=$(lb app-password add Mac --user "$BOB" --layout single --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
client bob-mac "$BOB" "$MAC_PASS"
must_sync bob-mac "the Mac's first sync"
[[ "$(ls "$WORK/bob-mac/local")" == all ]] || fail "the single layout shows one book: $(ls "$WORK/bob-mac/local")"
MAC="$WORK/bob-mac/local/all"
[[ $(grep -l '^UID:p-1' "$MAC"/*.vcf | wc -l) == 1 ]] || fail "every card once"
GROUP=$(grep -l '^X-ADDRESSBOOKSERVER-KIND:group' "$MAC"/*.vcf | head -1)
[[ -n "$GROUP" ]] && grep -q '^X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:p-2' "$GROUP" || fail "the label is a group naming its members"
sed -i '/urn:uuid:p-2/d' "$GROUP"
must_sync bob-mac "a member taken off the group"
must_sync ann "Ann's sync after the group edit"
[[ -z "$(local_file ann p-2)" && -n "$(local_file ann p-1)" ]] || fail "the group edit took p-2 off Ann's label"
unshare_bob
pass "combined book: one book, the label as a group, a group edit changes the label"
echo "sharing between two domains with vdirsyncer: 6 passed, 0 failed"
