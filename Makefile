# konnector-hooks: `make help` lists the targets.

SHELL := /usr/bin/env bash
BIN   := bin
PORT  ?= 8080
GO_TEST_FLAGS ?=
# Two build flavours, so that a cold CI run compiles each package at most
# once per flavour: the race detector's, for the product module's tests
# (make test's first step) and its go vet; and the static one ko builds the
# image with, which every test module (manifests, helmrender, knative, e2e
# through hack/e2e.sh, bench) and their go vet use, so that Helm, CAPI,
# clusterctl's library and client-go are compiled once for all of them.
STATIC := CGO_ENABLED=0 GOFLAGS="$(strip $(GOFLAGS) -trimpath)"

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the function binary into bin/konnector-hooks (VERSION: what `konnector-hooks version` prints, default dev)
	go build -ldflags "-X main.version=$(or $(VERSION),dev)" -o $(BIN)/konnector-hooks ./cmd/konnector-hooks

envtest-assets: ## build and cache kube-apiserver and etcd for the tests (about 11 min cold)
	@hack/envtest-assets.sh

run: build ## serve the hooks on $(PORT); without KUBECONFIG, against an embedded local management API server
	@if [[ -n "$$KUBECONFIG" ]]; then \
	  echo "preview what the hooks would write for a Cluster: $(BIN)/konnector-hooks render <namespace>/<cluster>"; \
	  PORT=$(PORT) $(BIN)/konnector-hooks; \
	else \
	  KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" PORT=$(PORT) go run ./test/localrun $(BIN)/konnector-hooks; \
	fi

test: ## run every test against a real API server (envtest), with the race detector, and the fuzzers briefly
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test -race -count=1 $(GO_TEST_FLAGS) ./...
	$(MAKE) test-manifests
	$(MAKE) test-helmrender
	$(MAKE) test-knative
	$(MAKE) fuzz

test-manifests: ## prove deploy/ and knative/ on a real API server: RBAC per hook flow, strict validation
	assets="$$(hack/envtest-assets.sh)" && cd test/manifests && KUBEBUILDER_ASSETS="$$assets" $(STATIC) go test -count=1 $(GO_TEST_FLAGS) ./...

test-helmrender: ## the hooks' values through CAAPH's template pass and Helm with the chart fixture, dry-run on envtest
	assets="$$(hack/envtest-assets.sh)" && cd test/helmrender && KUBEBUILDER_ASSETS="$$assets" $(STATIC) go test -count=1 $(GO_TEST_FLAGS) ./...

test-knative: ## check knative/ with Knative's own code: the Service's SetDefaults + Validate, the PingSource structurally
	cd test/knative && $(STATIC) go test -count=1 $(GO_TEST_FLAGS) ./...

# Each fuzz target runs a number of inputs (about 10 s each on 2 cores), not a
# duration: with a duration, Go 1.26's fuzz coordinator can end a run that
# found nothing with "context deadline exceeded" when a busy machine delays a
# worker's last answer (go.dev/issue/75804, fixed in Go 1.27). Minimizing a
# new interesting input is bounded the same way (by default it may take 60 s
# an input, and its executions do not count). FUZZTIME overrides all three
# (a count like 1000000x, or a duration).
FUZZTIME ?=
FUZZ := go test -run '^$$' -fuzzminimizetime 2000x
fuzz: ## run each fuzz target briefly (a fixed number of inputs; FUZZTIME overrides)
	$(FUZZ) -fuzz '^FuzzDecode$$' -fuzztime $(or $(FUZZTIME),200000x) ./handlers/hookrequest
	$(FUZZ) -fuzz '^FuzzReadConfig$$' -fuzztime $(or $(FUZZTIME),250000x) ./konnector/clusterconfig
	$(FUZZ) -fuzz '^FuzzRenderValues$$' -fuzztime $(or $(FUZZTIME),15000x) ./konnector/clusterconfig

e2e: ## end to end: the real CAPI managers (v1.12.5, v1.14.2) call the hooks, CAAPH installs the chart in workload API servers; builds and caches them (minutes cold)
	hack/e2e.sh

bench: ## measure cold start, hook latency, API requests, memory and throughput against envtest, next to CAPI's test extension; writes bench/report.md
	hack/bench.sh

soak: ## drive thousands of hook calls for many clusters against envtest, then check state and leaks
	KONNECTOR_SOAK=1 KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test -race -count=1 -run '^TestSoak' -v ./handlers

image: ## build the image with ko into bin/konnector-hooks-image.tar (base: KO_DEFAULTBASEIMAGE or .ko.yaml)
	hack/image.sh

image-offline: ## build the image on a minimal base assembled locally (no registry needed)
	hack/image.sh --local-base

cluster-up: ## start a real single-node cluster in its own network namespace (hack/cluster.sh; builds its binaries once: about 30 min cold on a busy 2-core machine, then about 20 s); source /tmp/konnector-hooks-cluster/env
	hack/cluster.sh up

cluster-smoke: ## on the cluster: the image as a Pod with the Knative Service's security context answers /healthz, a Pod resolves cluster DNS
	hack/cluster.sh smoke

cluster-knative: ## on the cluster: Knative Serving with Traefik as its ingress (builds Traefik and Knative once: about 28 min cold), and a Knative Service of the image answering through Traefik
	hack/knative.sh up
	hack/knative.sh check

cluster-install: ## on the cluster with Knative: install konnector-hooks as the README does (CRDs, kustomize + ko resolve, apply), then discovery and AfterControlPlaneInitialized through the ingress as CAPI calls them, and a Sync Job
	hack/e2e-knative.sh install
	hack/e2e-knative.sh check

cluster-https: ## on the cluster with konnector-hooks installed: cert-manager, the install with knative/https, and the hook calls over https with the certificate's CA
	hack/e2e-knative.sh https

cluster-bench: ## on the https install: cold starts at min-scale 0 and warm latency through the whole data path against straight to the container; writes bench/knative.md into bench/report.md
	hack/e2e-knative.sh bench

e2e-knative: ## a new real cluster with Knative, Traefik and the https install; the real CAPI v1.14.2 and CAAPH managers call the hooks through the ingress (lifecycle, a Sync Job delivering a rotated password), then the same with deploy/without-knative (a rollout restart and a killed pod while CAPI calls); the cluster goes down at the end (about 10 min warm)
	hack/e2e-knative.sh all

cluster-down: ## stop the cluster and check that no process, mount, cgroup or network namespace of it is left
	hack/cluster.sh down

release: ## write a clusterctl provider release (components, metadata, image) into out/release (VERSION, KO_DOCKER_REPO or IMAGE)
	hack/release.sh

lint: ## gofmt, one version per shared dependency (hack/pins.sh), and go vet, each module in the flavour its tests build
	@out="$$(gofmt -l .)"; if [[ -n "$$out" ]]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	hack/pins.sh --check
	go vet -race ./...
	cd test/manifests && $(STATIC) go vet ./...
	cd test/helmrender && $(STATIC) go vet ./...
	cd test/e2e && $(STATIC) go vet ./...
	cd test/bench && $(STATIC) go vet ./...
	cd test/knative && $(STATIC) go vet ./...

.PHONY: help build envtest-assets run test test-manifests test-helmrender test-knative fuzz e2e bench soak image image-offline cluster-up cluster-smoke cluster-knative cluster-install cluster-https cluster-bench e2e-knative cluster-down release lint
