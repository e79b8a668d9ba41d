# Thin wrappers: every target is one script or npm command.
# On a fresh machine `make demo` and `make test` each do all the set-up first.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup deps build lint test test-unit e2e bench demo chart control-plane clean-cache

setup: ## install OS packages, npm dependencies (with Node 24) and the control-plane binaries
	bash scripts/setup.sh

deps:
	bash scripts/setup.sh --npm-only

build: deps ## type-check every workspace (tsc -b)
	tsc -b

lint: deps ## eslint + tsc + helm lint
	eslint . && tsc -b && bash scripts/helm-lint.sh

test: setup ## everything: type-check, unit tests, real-control-plane and network-namespace tests
	bash scripts/test.sh

test-unit: deps ## tests that need no control plane or root
	bash scripts/test.sh --unit

e2e: setup ## end-to-end scenarios only
	bash scripts/test.sh --e2e

bench: setup ## benchmarks, printed as ratios against baselines measured in the same run
	node e2e/bench/run.ts

demo: setup ## the whole product on a real control plane, end to end
	node e2e/src/demo.ts

chart: deps ## lint and render the Helm chart
	bash scripts/helm-lint.sh

control-plane: ## build (or reuse) etcd, kube-apiserver, kube-controller-manager, kubectl, helm
	bash e2e/scripts/build-binaries.sh
