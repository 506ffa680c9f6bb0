#!/usr/bin/env bash
# The checks of one evidence record with tools we did not write, shared by the shell and
# the lifecycle tests: xmllint against the ETSI schema, xmlsec1 with only the sample root,
# openssl ts for the SignatureTimeStamp and for the event time-stamp (whose genTime must be
# the EventTime); then one changed byte, and an unrelated trust anchor, must each make
# xmlsec1 refuse the record. docs/evidence-profile.md describes what is checked.
#
# Sourced, it defines check_evidence. Run, it checks one record:
#   evidence_checks.sh SOURCE_DIR EVIDENCE.xml LETTER_ID EVENT
# shellcheck shell=bash

# check_evidence SOURCE_DIR EVIDENCE.xml LETTER_ID EVENT: one line on success; else the
# failure on standard error and status 1. Runs in a subshell of its own.
check_evidence() (
  set -euo pipefail
  local source_dir=$1 xml=$2 letter_id=$3 event=$4
  local root="$source_dir/certs-sample/root-ca.pem"
  local schema="$source_dir/tests/fixtures/standards/etsi-en-319522-3-evidence.xsd"
  local other_root="$source_dir/tests/fixtures/hostile/keys/tsa-ca-cert.pem"
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  fail() { echo "FAIL: $(basename "$xml") ($event): $*" >&2; exit 1; }
  xpath() { xmllint --xpath "$1" "$xml"; }

  # 1. The ETSI EN 319 522-3 schema, and the record is the one expected.
  xmllint --noout --nonet --schema "$schema" "$xml" 2>"$work/xmllint.log" \
    || fail "does not validate against the ETSI schema: $(cat "$work/xmllint.log")"
  local evidence_id event_uri message
  evidence_id=$(xpath 'string(//*[local-name()="EvidenceIdentifier"])')
  event_uri=$(xpath 'string(//*[local-name()="ERDSEventId"])')
  message=$(xpath 'string(//*[local-name()="MessageIdentifier"])')
  [ "$event_uri" = "http://uri.etsi.org/19522/Event/$event" ] || fail "the event is $event_uri"
  [ "$message" = "$letter_id" ] || fail "the record is of letter $message, not $letter_id"

  # 2. The XAdES seal, with only the trust anchor.
  xmlsec1 --verify --trusted-pem "$root" "$xml" >/dev/null 2>"$work/xmlsec.log" \
    || fail "xmlsec1 refused the seal: $(cat "$work/xmlsec.log")"

  # 3. The SignatureTimeStamp covers the exclusive-canonical ds:SignatureValue.
  xpath 'string(//*[local-name()="EncapsulatedTimeStamp"])' | base64 -d >"$work/signature.tst"
  printf '<ds:SignatureValue xmlns:ds="http://www.w3.org/2000/09/xmldsig#">%s</ds:SignatureValue>' \
    "$(xpath 'string(//*[local-name()="SignatureValue"])')" >"$work/signature-value.c14n"
  openssl ts -verify -in "$work/signature.tst" -token_in -data "$work/signature-value.c14n" \
    -CAfile "$root" >/dev/null 2>"$work/ts.log" \
    || fail "openssl ts refused the SignatureTimeStamp: $(cat "$work/ts.log")"

  # 4. The event time-stamp covers the imprint text rebuilt from the record, one line per
  #    document, and its genTime is the EventTime.
  xpath 'string(//*[local-name()="EventTimeStamp"])' | base64 -d >"$work/event.tst"
  printf 'sceau-event-v1\nevidence %s\nevent %s\nletter %s\n' \
    "$evidence_id" "$event_uri" "$message" >"$work/imprint.txt"
  local parts n part digest_hex
  parts=$(xpath 'count(//*[local-name()="PartInfo"])')
  for ((n = 1; n <= parts; n++)); do
    part="(//*[local-name()=\"PartInfo\"])[$n]"
    digest_hex=$(xpath "string($part/*[local-name()=\"DigestValue\"])" \
      | base64 -d | od -An -tx1 | tr -d ' \n')
    printf 'part %d %s\n' "$n" "$digest_hex" >>"$work/imprint.txt"
  done
  openssl ts -verify -in "$work/event.tst" -token_in -data "$work/imprint.txt" -CAfile "$root" \
    >/dev/null 2>"$work/ts.log" \
    || fail "openssl ts refused the event time-stamp: $(cat "$work/ts.log")"
  local gen_time event_time
  gen_time=$(openssl ts -reply -in "$work/event.tst" -token_in -token_out -text 2>/dev/null \
    | sed -n 's/^Time stamp: //p')
  event_time=$(xpath 'string(//EventTime)')
  [ "$(date -u -d "$gen_time" +%s)" = "$(date -u -d "$event_time" +%s)" ] \
    || fail "EventTime $event_time is not the event time-stamp's genTime $gen_time"

  # 5. One changed byte in the sealed content (the last character of the letter id), and
  #    a seal checked against another trust anchor: xmlsec1 must refuse both.
  sed "s|>$letter_id<|>${letter_id%?}X<|" "$xml" >"$work/tampered.xml"
  [ "$(cmp -l "$xml" "$work/tampered.xml" | wc -l)" = 1 ] \
    || fail "tampering did not change exactly one byte"
  if xmlsec1 --verify --trusted-pem "$root" "$work/tampered.xml" >/dev/null 2>&1; then
    fail "xmlsec1 accepted a record with one byte changed"
  fi
  if xmlsec1 --verify --trusted-pem "$other_root" "$xml" >/dev/null 2>&1; then
    fail "xmlsec1 accepted the seal under an unrelated trust anchor"
  fi
  echo "evidence $evidence_id ($event): schema, seal, both time-stamps verified; tampering detected"
)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  [ $# -eq 4 ] || { echo "usage: $0 SOURCE_DIR EVIDENCE.xml LETTER_ID EVENT" >&2; exit 2; }
  check_evidence "$@"
fi
