#!/usr/bin/env bash
# Downloads a letter's proof bundle with curl and checks it with tools we did not write:
# unzip lists and extracts it (mimetype first and stored), xmlsec1 verifies the container
# signature from the extracted directory and each record with only the sample root,
# openssl ts verifies every time-stamp token against the bytes the bundle says it stamps,
# and every record passes evidence_checks.sh. Then sceau verify agrees, and a bundle with
# one byte changed in a record is refused by both xmlsec1 and sceau verify.
# Usage: verify_bundle.sh SCEAU_BINARY SOURCE_DIR
set -euo pipefail
sceau=$1
src=$2
. "$src/tests/tools/evidence_checks.sh"
root="$src/certs-sample/root-ca.pem"
other_root="$src/tests/fixtures/hostile/keys/tsa-ca-cert.pem"
. "$src/tests/tools/deposit_once.sh"

# 1. A deposit (deposit_once.sh), then its bundle.
curl -sS -f -o "$work/bundle.asice" "$base/v1/letters/$letter_id/bundle" \
  -H "Authorization: Bearer $key"

# 2. unzip: the first entry is mimetype, stored, holding the ASiC-E media type. (sed reads
#    the whole list: head would leave unzip writing into a closed pipe, and pipefail fail.)
first=$(unzip -Z1 "$work/bundle.asice" | sed -n 1p)
[ "$first" = mimetype ] || fail "the first entry is $first"
unzip -Zv "$work/bundle.asice" mimetype >"$work/mimetype.txt"
grep -q 'compression method:.*none (stored)' "$work/mimetype.txt" || fail "mimetype is not stored"
mkdir "$work/x"
(cd "$work/x" && unzip -q "$work/bundle.asice")
[ "$(cat "$work/x/mimetype")" = application/vnd.etsi.asic-e+zip ] || fail "wrong mimetype"
cmp -s "$pdf" "$work/x/documents/1-p00-positive-control.pdf" || fail "the document differs"

# 3. xmlsec1 on the detached container signature, run where the entries are (the
#    references are relative to the container's root), with only the sample root.
(cd "$work/x" && xmlsec1 --verify --trusted-pem "$root" META-INF/signatures0.xml) \
  >"$work/xmlsec.log" 2>&1 || fail "xmlsec1 refused the container signature: $(cat "$work/xmlsec.log")"
if (cd "$work/x" && xmlsec1 --verify --trusted-pem "$other_root" META-INF/signatures0.xml) \
  >/dev/null 2>&1; then
  fail "xmlsec1 accepted the container signature under an unrelated anchor"
fi

# 4. Every record: the shared evidence checks, and the time-stamp files next to it.
records=0
for xml in "$work"/x/evidence/*.xml; do
  name=$(basename "$xml" .xml)
  event=$(echo "$name" | cut -d- -f2)
  id=$(echo "$name" | cut -d- -f3)
  check_evidence "$src" "$xml" "$letter_id" "$event"
  openssl ts -verify -in "$work/x/timestamps/$id-event.tst" -token_in \
    -data "$work/x/timestamps/$id-event.txt" -CAfile "$root" >/dev/null 2>&1 \
    || fail "openssl ts refused the event time-stamp file of $id"
  openssl ts -verify -in "$work/x/timestamps/$id-signature.tst" -token_in \
    -data "$work/x/timestamps/$id-signature.c14n" -CAfile "$root" >/dev/null 2>&1 \
    || fail "openssl ts refused the signature time-stamp file of $id"
  records=$((records + 1))
done
[ "$records" -ge 1 ] || fail "no evidence record in the bundle"
openssl ts -verify -in "$work/x/log/checkpoint.tst" -token_in -data "$work/x/log/checkpoint.txt" \
  -CAfile "$root" >/dev/null 2>&1 || fail "openssl ts refused the checkpoint's time-stamp"

# 5. sceau verify agrees.
"$sceau" verify --trust "$root" "$work/bundle.asice" >"$work/verify.txt" \
  || fail "sceau verify refused the bundle: $(cat "$work/verify.txt")"
grep -q "VERDICT: the bundle holds" "$work/verify.txt" || fail "no verdict: $(cat "$work/verify.txt")"

# 6. One byte changed in a record, the container rebuilt as a ZIP tool would: refused.
xml=$(ls "$work"/x/evidence/*.xml | sed -n 1p)
sed -i "s|>$letter_id<|>${letter_id%?}X<|" "$xml"
python3 - "$work/x" "$work/tampered.asice" <<'EOF'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w") as z:
    z.write(os.path.join(src, "mimetype"), "mimetype", compress_type=zipfile.ZIP_STORED)
    for d, _, files in os.walk(src):
        for f in sorted(files):
            path = os.path.join(d, f)
            name = os.path.relpath(path, src)
            if name != "mimetype":
                z.write(path, name, compress_type=zipfile.ZIP_DEFLATED)
EOF
if (cd "$work/x" && xmlsec1 --verify --trusted-pem "$root" META-INF/signatures0.xml) \
  >/dev/null 2>&1; then
  fail "xmlsec1 accepted the container signature after a record changed"
fi
if "$sceau" verify --trust "$root" "$work/tampered.asice" >"$work/tampered.txt"; then
  fail "sceau verify accepted a bundle with a changed record"
fi
grep -q "FAILS  *seal of" "$work/tampered.txt" || fail "the changed seal is not named: $(cat "$work/tampered.txt")"
grep -q "FAILS  *container signature: .*evidence/" "$work/tampered.txt" \
  || fail "the changed entry is not named: $(cat "$work/tampered.txt")"
echo "bundle of $letter_id: unzip, xmlsec1, openssl ts and sceau verify agree; tampering refused"
