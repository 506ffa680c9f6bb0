#!/usr/bin/env bash
# Deposits a real PDF with curl and checks its evidence with tools we did not write
# (evidence_checks.sh): xmllint against the ETSI schema, xmlsec1 with only the sample
# root, openssl ts for both time-stamps; one changed byte makes xmlsec1 refuse the record.
# Usage: verify_deposit.sh SCEAU_BINARY SOURCE_DIR
set -euo pipefail
sceau=$1
src=$2
. "$src/tests/tools/evidence_checks.sh"
. "$src/tests/tools/deposit_once.sh"

# 1. A deposit with the curl command line (deposit_once.sh), then its record.
url=$(grep -o '"/v1/evidence/evd_[a-z0-9]*"' "$work/letter.json" | tr -d '"')
curl -sS -f -o "$work/evidence.xml" "$base$url" -H "Authorization: Bearer $key"

# 2. The record, with the independent tools.
check_evidence "$src" "$work/evidence.xml" "$letter_id" SubmissionAcceptance
