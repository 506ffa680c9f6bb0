# Shared by scripts/run and scripts/test: install what is missing, build.
# shellcheck shell=bash

# Debian 12 packages the build needs.
SCEAU_BUILD_PACKAGES=(
  build-essential cmake pkg-config ccache
  libssl-dev libxml2-dev libxmlsec1-dev zlib1g-dev libboost-dev
  libsoci-dev libsqlite3-dev libpq-dev
  nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libspdlog-dev
  libcurl4-openssl-dev libzip-dev libqpdf-dev libicu-dev libcjose-dev libjansson-dev catch2
  openssl ca-certificates
)

# The tools the README's commands use on a running gateway: to deposit and to check the
# evidence with programs that are not Sceau's.
SCEAU_RUN_PACKAGES=(curl xmlsec1 libxml2-utils unzip)

# What the tests run besides our own code: the independent verifiers and clients, the
# SMTP server the lifecycle tests deliver the recipient's mail to, the headless browser
# (with its WebDriver and Selenium) the recipient's pages are driven in, the SAML
# identity provider the eIDAS tests identify the recipient with, and the PostgreSQL
# server the storage and lifecycle tests run on a second time.
SCEAU_TEST_PACKAGES=(
  xmlsec1 libxml2-utils curl sqlite3 qpdf opensaml-schemas
  python3 python3-aiosmtpd python3-pysaml2 python3-prometheus-client tzdata
  chromium chromium-driver python3-selenium postgresql postgresql-client
)

# ensure_node: node and npm for the OpenID Connect tests (oidc-provider). Debian's nodejs
# and npm only when no node is there; a Node.js that brings its own npm is left alone.
ensure_node() {
  if ! command -v node >/dev/null; then
    install_missing nodejs npm
  elif ! command -v npm >/dev/null; then
    echo "node is installed without npm; install the npm of that Node.js" >&2
    return 1
  fi
}

# install_missing PACKAGE...: apt-get installs the packages not yet installed.
install_missing() {
  local missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# build BUILD_DIR [CMAKE_ARGS...]: configures once, then builds with every core.
build() {
  local dir=$1
  shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >&2
  fi
  cmake --build "$dir" --parallel "$(nproc)" >&2
}
