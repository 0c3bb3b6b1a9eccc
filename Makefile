# nbs2i: `make demo` builds and serves examples/kmeans; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
OUT ?= build/kmeans
PORT ?= 8080
ENGINE ?=
PYTEST_ARGS ?=

NBS2I := $(VENV)/bin/nbs2i
# uv trusts the system CA store, as pip does (not only the roots it bundles)
export UV_SYSTEM_CERTS ?= 1

.PHONY: help setup demo test test-unit images base-image bench mutation proto clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(VENV)/.installed  ## create .venv with nbs2i and the test tools

$(VENV)/.installed: pyproject.toml
	scripts/setup-dev.sh "$(PYTHON)" "$(VENV)"

demo: setup  ## build examples/kmeans into build/kmeans and serve it on PORT (8080)
	$(NBS2I) build examples/kmeans --out $(OUT)
	@scripts/demo-banner.sh "$(PORT)" && $(NBS2I) serve $(OUT) --port $(PORT)

test: setup  ## install system packages (apt) and run every test
	scripts/system-deps.sh && scripts/test-node-deps.sh "$(VENV)" && $(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: setup  ## the fast tests only (no builds, no network)
	$(VENV)/bin/pytest test/unit $(PYTEST_ARGS)

images:  ## build nb-builder and nb-runtime (ENGINE=podman|buildah|docker, BASE_IMAGE=...; the stand-in base when no registry answers)
	ENGINE="$(ENGINE)" scripts/build-images.sh

base-image:  ## the stand-in base image (Debian bookworm + python3, made with debootstrap) for hosts with no registry
	ENGINE="$(ENGINE)" scripts/make-base-image.sh

bench: setup  ## benchmarks: writes docs/benchmarks.md and docs/bench/*.png (not part of make test)
	scripts/bench-deps.sh "$(VENV)" && $(VENV)/bin/python -m bench.run

mutation: setup  ## mutation score of the service's unit tests (mutmut, ~10 min; not part of make test): docs/benchmarks.md
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python mutmut==3.8.1 && $(VENV)/bin/python -m bench.mutation

proto:  ## compile the gRPC interface (service_skeleton/nbs2i_service/grpc_predict_v2.proto) into the descriptor the service loads
	$(VENV)/bin/python -m grpc_tools.protoc -I service_skeleton/nbs2i_service \
	    --descriptor_set_out=service_skeleton/nbs2i_service/grpc_predict_v2.binpb grpc_predict_v2.proto

clean:  ## remove build outputs and the dev venv
	rm -rf build $(VENV) .pytest_cache
