#!/usr/bin/env bash
# Installs the test OpenID Connect provider into DIR: its script, and oidc-provider with
# its dependencies exactly as package-lock.json pins them (npm ci, integrity checked).
# Run again, it installs only when the lock file changed. Nothing is fetched at test time.
#   install.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: install.sh DIR}
command -v node >/dev/null && command -v npm >/dev/null \
  || { echo "the OIDC tests need node and npm: scripts/test installs them" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/provider.mjs" "$dir/"
if [ -d "$dir/node_modules/oidc-provider" ] && cmp -s "$here/package-lock.json" "$dir/package-lock.json"; then
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
echo "oidc-provider $(node -p "require('$dir/node_modules/oidc-provider/package.json').version") installed with node $(node --version)"
