# konnector-hooks: `make help` lists the targets.

SHELL := /usr/bin/env bash
BIN   := bin
PORT  ?= 8080
GO_TEST_FLAGS ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build the function binary into bin/konnector-hooks
	go build -o $(BIN)/konnector-hooks ./cmd/konnector-hooks

envtest-assets: ## build and cache kube-apiserver and etcd for the tests (about 11 min cold)
	@hack/envtest-assets.sh

run: build ## serve the hooks on $(PORT); without KUBECONFIG, against an embedded local management API server
	@if [[ -n "$$KUBECONFIG" ]]; then \
	  PORT=$(PORT) $(BIN)/konnector-hooks; \
	else \
	  KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" PORT=$(PORT) go run ./test/localrun $(BIN)/konnector-hooks; \
	fi

test: ## run every test against a real API server (envtest), with the race detector
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test -race -count=1 $(GO_TEST_FLAGS) ./...

lint: ## gofmt and go vet
	@out="$$(gofmt -l .)"; if [[ -n "$$out" ]]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	go vet ./...

.PHONY: help build envtest-assets run test lint
