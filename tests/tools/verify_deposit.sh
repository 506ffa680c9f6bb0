#!/usr/bin/env bash
# Deposits a real PDF with curl and checks its evidence with tools we did not write:
# xmllint against the ETSI schema, xmlsec1 with only the sample root, openssl ts for both
# time-stamps; then shows that one changed byte makes xmlsec1 refuse the record.
# Usage: verify_deposit.sh SCEAU_BINARY SOURCE_DIR
set -euo pipefail
sceau=$1
src=$2
root="$src/certs-sample/root-ca.pem"
schema="$src/tests/fixtures/standards/etsi-en-319522-3-evidence.xsd"
pdf="$src/tests/fixtures/hostile/pdf/p00-positive-control.pdf"

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

key=$("$sceau" sender add --data "$work/data" --name "Maître Durand" \
        --email contact@durand.example --company "Étude Durand" 2>/dev/null)
"$sceau" serve --data "$work/data" --listen 127.0.0.1:0 --ready-file "$work/ready" \
  2>"$work/server.log" &
pid=$!
for _ in $(seq 1 300); do [ -s "$work/ready" ] && break; sleep 0.05; done
[ -s "$work/ready" ] || fail "server did not start: $(cat "$work/server.log")"
base="http://$(cat "$work/ready")"

# 1. Deposit with the curl command line.
curl -sS -o "$work/letter.json" -w '%{http_code}' "$base/v1/letters" \
  -H "Authorization: Bearer $key" \
  -F 'letter={"kind":"lre","recipient":{"email":"claire.martin@example.org","given_name":"Claire","family_name":"Martin","birth_date":"1985-02-17"},"consent_reference":"consent-1","subject":"Mise en demeure","reference":"dossier 4521"};type=application/json' \
  -F "document=@$pdf;type=application/pdf" > "$work/status"
[ "$(cat "$work/status")" = 201 ] || fail "deposit answered $(cat "$work/status"): $(cat "$work/letter.json")"
url=$(grep -o '"/v1/evidence/evd_[a-z0-9]*"' "$work/letter.json" | tr -d '"')
letter_id=$(grep -o '"id":"ltr_[a-z0-9]*"' "$work/letter.json" | cut -d'"' -f4)
curl -sS -f -o "$work/evidence.xml" "$base$url" -H "Authorization: Bearer $key"

# 2. The ETSI EN 319 522-3 schema.
xmllint --noout --nonet --schema "$schema" "$work/evidence.xml" \
  || fail "evidence does not validate against the ETSI schema"

# 3. The XAdES seal, with only the trust anchor.
xmlsec1 --verify --trusted-pem "$root" "$work/evidence.xml" >/dev/null 2>"$work/xmlsec.log" \
  || fail "xmlsec1 refused the seal: $(cat "$work/xmlsec.log")"

# 4. The SignatureTimeStamp covers the exclusive-canonical ds:SignatureValue.
xpath() { xmllint --xpath "$1" "$work/evidence.xml"; }
xpath 'string(//*[local-name()="EncapsulatedTimeStamp"])' | base64 -d > "$work/signature.tst"
printf '<ds:SignatureValue xmlns:ds="http://www.w3.org/2000/09/xmldsig#">%s</ds:SignatureValue>' \
  "$(xpath 'string(//*[local-name()="SignatureValue"])')" > "$work/signature-value.c14n"
openssl ts -verify -in "$work/signature.tst" -token_in -data "$work/signature-value.c14n" \
  -CAfile "$root" >/dev/null 2>"$work/ts.log" \
  || fail "openssl ts refused the SignatureTimeStamp: $(cat "$work/ts.log")"

# 5. The event time-stamp covers the imprint text of docs/evidence-profile.md, and its
#    genTime is the EventTime.
xpath 'string(//*[local-name()="EventTimeStamp"])' | base64 -d > "$work/event.tst"
evidence_id=$(xpath 'string(//*[local-name()="EvidenceIdentifier"])')
event=$(xpath 'string(//*[local-name()="ERDSEventId"])')
digest_hex=$(xpath 'string(//*[local-name()="PartInfo"][1]/*[local-name()="DigestValue"])' \
  | base64 -d | od -An -tx1 | tr -d ' \n')
printf 'sceau-event-v1\nevidence %s\nevent %s\nletter %s\npart 1 %s\n' \
  "$evidence_id" "$event" "$letter_id" "$digest_hex" > "$work/imprint.txt"
openssl ts -verify -in "$work/event.tst" -token_in -data "$work/imprint.txt" -CAfile "$root" \
  >/dev/null 2>"$work/ts.log" || fail "openssl ts refused the event time-stamp: $(cat "$work/ts.log")"
gen_time=$(openssl ts -reply -in "$work/event.tst" -token_in -token_out -text 2>/dev/null \
  | sed -n 's/^Time stamp: //p')
event_time=$(xpath 'string(//EventTime)')
[ "$(date -u -d "$gen_time" +%s)" = "$(date -u -d "$event_time" +%s)" ] \
  || fail "EventTime $event_time is not the event time-stamp's genTime $gen_time"

# 6. One changed byte in the sealed content: xmlsec1 must refuse.
sed 's/claire.martin@example.org/claire.martin@example.orh/' "$work/evidence.xml" > "$work/tampered.xml"
cmp -s "$work/evidence.xml" "$work/tampered.xml" && fail "tampering changed nothing"
if xmlsec1 --verify --trusted-pem "$root" "$work/tampered.xml" >/dev/null 2>&1; then
  fail "xmlsec1 accepted a tampered record"
fi
# And a seal checked against another trust anchor fails too.
if xmlsec1 --verify --trusted-pem "$src/tests/fixtures/hostile/keys/tsa-ca-cert.pem" \
     "$work/evidence.xml" >/dev/null 2>&1; then
  fail "xmlsec1 accepted the seal under an unrelated trust anchor"
fi
echo "evidence $evidence_id: schema, seal, both time-stamps verified; tampering detected"
