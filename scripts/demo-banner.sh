#!/bin/bash
# Prints how to talk to the demo service before `make demo` starts it. Args: PORT.
set -euo pipefail
port="${1:-8080}"
grpc="${NBS2I_GRPC_PORT:-8081}"
cat >&2 <<MSG

---> Serving examples/kmeans on port ${port}. In another terminal:
     curl -s -H 'Content-Type: application/json' -d '[0.5, 0.5]' http://localhost:${port}/predict
     (a page to try it: http://localhost:${port}/ ; the Open Inference Protocol over gRPC on
     localhost:${grpc}, e.g. grpcurl -plaintext localhost:${grpc} list ; stop with Ctrl-C)

MSG
