#!/usr/bin/env bash
# Every card the server writes for the corpus of real client exports (tests/it/data): each card as 3.0, as
# 4.0, converted back, and after an API edit, judged by an independent validator, ez-vcard (the vCard library of
# many Android and Java clients; Debian's package), against RFC 2426 and RFC 6350. Reuses the test binary.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

JARS=/usr/share/java/ez-vcard.jar:/usr/share/java/vinnie.jar
if [ ! -f /usr/share/java/ez-vcard.jar ] || [ ! -f /usr/share/java/vinnie.jar ] || ! command -v java > /dev/null; then
    apt-get update -qq > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libez-vcard-java libvinnie-java default-jre-headless > /dev/null
fi

OUT="$ROOT/target/vcard-corpus"
rm -rf "$OUT"
LABELBOOK_VCARD_OUT="$OUT" cargo nextest run --no-fail-fast \
    -E 'test(=corpus::every_card_of_the_corpus_round_trips_through_every_path)'
java -cp "$JARS" conformance/vcard/Validate.java "$OUT"
