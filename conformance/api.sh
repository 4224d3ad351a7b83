#!/usr/bin/env bash
# The JSON API against its OpenAPI document (schema/openapi.yaml), with schemathesis from PyPI: generated requests,
# bounded in examples and time, must get no 5xx and no response that breaks the schema (status, content type,
# headers, body). A panic in the server log fails the run even if the client saw an answer.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VENV="$ROOT/target/schemathesis-venv"
if [[ ! -x "$VENV/bin/st" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'schemathesis==4.32.*'
fi

WORK="$(mktemp -d)"
trap 'stop_server; rm -rf "$WORK"' EXIT
# Generated sign-ins with wrong passwords must not lock the run's own Basic logins out (the limiter has its own
# tests in tests/it/session.rs).
LABELBOOK_LOGIN_MAX_FAILURES=1000000 start_server "$WORK"
AUTH=admin@localhost:admin-password

# Something to find: a label with a contact, shared with a second account.
printf "bob-password\n" | lb user add bob@localhost --password-stdin > /dev/null
label=$(curl -sf -u "$AUTH" -H 'content-type: application/json' -d '{"name":"Clients"}' "$BASE/api/v1/labels" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -u "$AUTH" -H 'content-type: application/json' -d '{"full_name":"Ann Lee","emails":[{"value":"ann@example.com"}]}' \
    "$BASE/api/v1/labels/$label/contacts" > /dev/null
curl -sf -u "$AUTH" -H 'content-type: application/json' -d '{"grantee":"bob@localhost","level":"edit"}' \
    "$BASE/api/v1/labels/$label/grants" > /dev/null

cd "$WORK"
# /events is left out: a stream that stays open is what it is for (tests/it/live.rs checks it). The SMTP test is
# left out: generated settings would send it to hosts off this machine (tests/it/mail.rs checks it).
"$VENV/bin/st" run "$BASE/api/v1/openapi.yaml" --url "$BASE/api/v1" -a "$AUTH" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${API_EXAMPLES:-25}" --max-time "${API_MAX_SECONDS:-180}" --seed "${API_SEED:-20261125}" \
    --generation-database none --no-color --request-timeout 10 \
    --exclude-operation-id streamEvents --exclude-operation-id adminTestSmtp \
    || fail "schemathesis found responses that break the schema (see above)"
if grep -q "panicked" "$WORK/server.log"; then
    grep -A5 "panicked" "$WORK/server.log" >&2
    fail "the server panicked during the run"
fi
pass "the API agrees with schema/openapi.yaml (schemathesis)"
