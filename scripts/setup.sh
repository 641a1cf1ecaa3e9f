#!/usr/bin/env bash
# moe-serve set-up: installs the Debian packages the build and tests need (idempotent), builds
# in Release, and runs the demo or the tests.
#
#   scripts/setup.sh demo [PROMPT]   install, build, generate text with the bundled demo model
#   scripts/setup.sh test            install, build, run every test (ctest)
#   scripts/setup.sh build           install and build only
#   scripts/setup.sh deps            install packages only
#
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-$(nproc)}"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libabsl-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libopenmpi-dev openmpi-bin libgtest-dev libgmock-dev libpcre2-dev nlohmann-json3-dev
  libcpp-httplib-dev prometheus-cpp-dev libssl-dev zlib1g-dev libbrotli-dev
  python3 python3-grpcio python3-protobuf
)

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {
  deps
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

cmd="${1:-build}"
shift || true
case "$cmd" in
  deps) deps ;;
  build) build ;;
  test)
    build
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$JOBS" "$@"
    ;;
  demo)
    build
    prompt="${1:-What light through yonder window breaks?}"
    "$BUILD_DIR/tools/moe-run" --model "$ROOT/models/demo-qwen3-moe-shakespeare" --chat \
      --no-think --prompt "$prompt" --max-tokens 120 --seed 1
    ;;
  *)
    echo "usage: scripts/setup.sh demo [PROMPT] | test | build | deps" >&2
    exit 2
    ;;
esac
