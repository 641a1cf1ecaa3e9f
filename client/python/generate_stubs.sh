#!/bin/sh
# Generates the Python stubs of the moe-serve API with Debian's protoc and grpc_python_plugin:
#   client/python/generate_stubs.sh [OUT_DIR]        (default: build/client/python)
# then: PYTHONPATH=OUT_DIR:client/python python3 client/python/example.py
# Writes OUT_DIR/moe/v1/inference_pb2{,_grpc}.py and OUT_DIR/grpc_health/v1/health_pb2{,_grpc}.py
# (the health stubs under grpc_health/, as in grpcio-health-checking, so as not to shadow the
# grpc package). Environment: PROTOC, GRPC_PYTHON_PLUGIN override the tools' paths.
set -eu
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${1:-$ROOT/build/client/python}"
PROTOC="${PROTOC:-protoc}"
PLUGIN="${GRPC_PYTHON_PLUGIN:-$(command -v grpc_python_plugin || echo /usr/bin/grpc_python_plugin)}"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$OUT" "$STAGE/grpc_health/v1"
cp "$ROOT/proto/grpc/health/v1/health.proto" "$STAGE/grpc_health/v1/health.proto"
"$PROTOC" -I "$ROOT/proto" --python_out="$OUT" --grpc_out="$OUT" \
  --plugin=protoc-gen-grpc="$PLUGIN" moe/v1/inference.proto
"$PROTOC" -I "$STAGE" --python_out="$OUT" --grpc_out="$OUT" \
  --plugin=protoc-gen-grpc="$PLUGIN" grpc_health/v1/health.proto
