#!/usr/bin/env bash
# Shared by the tool tests: a gateway on a fresh data directory, one sender, and one LRE
# letter deposited with the curl command line. Sourced after `sceau` and `src` are set; it
# sets `work` (removed on exit with the server), `key`, `base` and `letter_id`, writes the
# answer to "$work/letter.json", and defines `fail`.
# shellcheck shell=bash
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

curl -sS -o "$work/letter.json" -w '%{http_code}' "$base/v1/letters" \
  -H "Authorization: Bearer $key" \
  -F 'letter={"kind":"lre","recipient":{"email":"claire.martin@example.org","given_name":"Claire","family_name":"Martin","birth_date":"1985-02-17"},"consent_reference":"consent-1","subject":"Mise en demeure","reference":"dossier 4521"};type=application/json' \
  -F "document=@$pdf;type=application/pdf" > "$work/status"
[ "$(cat "$work/status")" = 201 ] || fail "deposit answered $(cat "$work/status"): $(cat "$work/letter.json")"
letter_id=$(grep -o '"id":"ltr_[a-z0-9]*"' "$work/letter.json" | cut -d'"' -f4)
