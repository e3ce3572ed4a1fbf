#!/usr/bin/env bash
# Installs freshet's toolchain and libraries from Debian's packages: only what is missing, so a
# second run does nothing. Runs apt-get as root, or through sudo.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config    # toolchain
  librocksdb-dev                      # the embedded store
  libsimdjson-dev                     # JSON input
  libeigen3-dev                       # dense math for the models
  libhnswlib-dev                      # HNSW graph for approximate top-k retrieval (src/index)
  libabsl-dev                         # Abseil flat_hash_map: the ranking feature map (src/rank)
  libfmt-dev libcli11-dev             # output formatting, command line
  libgtest-dev libgmock-dev           # tests
  libbenchmark-dev                    # bench/
  libboost-dev                        # Boost.Beast / Asio: the HTTP server
  libhiredis-dev                      # Redis Streams client: live event source (src/stream)
  redis-server                        # a real Redis for the stream tests (started by the tests)
  curl                                # the demo's HTTP requests
  clang libclang-rt-14-dev            # libFuzzer: make fuzz
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
