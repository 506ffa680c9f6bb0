#!/usr/bin/env bash
# Makes Sceau's sample PKI with the OpenSSL command line: a root CA and, under it, the
# evidence seal, the time-stamping unit, a TLS server and an identity-provider signer.
# For tests and the demo only. Run it again to replace every file in this folder.
set -euo pipefail
cd "$(dirname "$0")"

marker="Sceau sample PKI - NOT FOR PRODUCTION"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# issue NAME SUBJECT DAYS EXTENSIONS: a certificate for NAME.key signed by the root.
issue() {
  local name=$1 subject=$2 days=$3 extensions=$4
  printf '%s\n' "$extensions" > "$work/$name.ext"
  openssl req -new -key "$name.key" -subj "$subject" -out "$work/$name.csr"
  openssl x509 -req -in "$work/$name.csr" -CA root-ca.pem -CAkey root-ca.key \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
    -extfile "$work/$name.ext" -out "$name.pem"
}

# Root CA, twenty years.
ec_key root-ca.key
openssl req -x509 -new -key root-ca.key -sha256 -days 7300 \
  -set_serial "0x$(openssl rand -hex 16)" \
  -subj "/C=FR/O=$marker/CN=Sceau Sample Root CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" \
  -out root-ca.pem

# Evidence seal: ECDSA P-256, used for the XAdES seal of every evidence record.
ec_key seal.key
issue seal "/C=FR/O=$marker/CN=Sceau Sample Evidence Seal" 3650 \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

# Time-stamping unit: RFC 3161 section 2.3 wants exactly one extended key usage,
# timeStamping, marked critical.
ec_key tsa.key
issue tsa "/C=FR/O=$marker/CN=Sceau Sample Time-Stamping Unit" 3650 \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=critical,timeStamping
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

# TLS server for localhost.
ec_key tls.key
issue tls "/C=FR/O=$marker/CN=localhost" 3650 \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

# Identity provider (demo eIDAS node): RSA, which SAML deployments expect.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out idp.key
issue idp "/C=FR/O=$marker/CN=Sceau Sample Identity Provider" 3650 \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"

chmod 0644 ./*.pem ./*.key
for c in root-ca seal tsa tls idp; do
  printf '%-8s %s\n' "$c" "$(openssl x509 -in $c.pem -noout -fingerprint -sha256)"
done
