#!/usr/bin/env bash
# Deposits a real PDF with curl and checks its evidence with tools we did not write
# (evidence_checks.sh): xmllint against the ETSI schema, xmlsec1 with only the sample
# root, openssl ts for both time-stamps; one changed byte makes xmlsec1 refuse the record.
# Usage: verify_deposit.sh SCEAU_BINARY SOURCE_DIR
set -euo pipefail
sceau=$1
src=$2
. "$src/tests/tools/evidence_checks.sh"
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

# 2. The record, with the independent tools.
check_evidence "$src" "$work/evidence.xml" "$letter_id" SubmissionAcceptance
