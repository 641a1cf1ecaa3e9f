#!/usr/bin/env bash
# moe-serve set-up: installs the Debian packages the build and tests need (idempotent), builds
# in Release, and runs the demo or the tests.
#
#   scripts/setup.sh demo [PROMPT]   install, build, start moe-serve on the bundled demo model
#                                    and stream a chat answer with moe-client
#   scripts/setup.sh offline [PROMPT] the same answer offline, with moe-run
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
  iproute2 openssh-server openssh-client shellcheck
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

# Starts moe-serve on the demo model, waits for gRPC health, streams a chat answer with
# moe-client, then stops the server (SIGTERM: graceful drain).
demo_service() {
  local port_file log
  port_file="$(mktemp)"
  log="$(mktemp)"
  rm -f "$port_file"
  "$BUILD_DIR/tools/moe-serve" --model "$ROOT/models/demo-qwen3-moe-shakespeare" \
    --grpc-port 0 --http-port 0 --kv-blocks 1024 --port-file "$port_file" >"$log" 2>&1 &
  local pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  local grpc=""
  for _ in $(seq 1 600); do
    if [ -s "$port_file" ]; then
      grpc="$(sed -n 's/.*"grpc":\([0-9]*\).*/\1/p' "$port_file")"
      if [ -n "$grpc" ] && "$BUILD_DIR/client/moe-client" --target "localhost:$grpc" health \
          >/dev/null 2>&1; then
        break
      fi
    fi
    kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "moe-serve is serving on localhost:$grpc (gRPC); asking: $1" >&2
  "$BUILD_DIR/client/moe-client" --target "localhost:$grpc" chat --no-think \
    --prompt "$1" --max-tokens 120 --seed 1
  kill -TERM $pid
  wait $pid || true
  trap - EXIT
}

# Test-only extras: the official `openai` npm client for the HTTP API tests (skipped without).
test_deps() {
  if command -v npm >/dev/null && [ ! -d "$ROOT/tests/coordinator/http/openai_node/node_modules" ]; then
    npm ci --prefix "$ROOT/tests/coordinator/http/openai_node" --no-audit --no-fund >/dev/null 2>&1 ||
      echo "setup: npm ci failed; the openai npm client test will be skipped" >&2
  fi
}

cmd="${1:-build}"
shift || true
case "$cmd" in
  deps) deps ;;
  build) build ;;
  test)
    build
    test_deps
    cd "$BUILD_DIR"
    ctest --output-on-failure -j "$JOBS" "$@"
    ;;
  demo)
    build
    prompt="${1:-What light through yonder window breaks?}"
    demo_service "$prompt"
    ;;
  offline)
    build
    prompt="${1:-What light through yonder window breaks?}"
    "$BUILD_DIR/tools/moe-run" --model "$ROOT/models/demo-qwen3-moe-shakespeare" --chat \
      --no-think --prompt "$prompt" --max-tokens 120 --seed 1
    ;;
  *)
    echo "usage: scripts/setup.sh demo [PROMPT] | offline [PROMPT] | test | build | deps" >&2
    exit 2
    ;;
esac
