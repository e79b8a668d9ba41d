# One image carries every `mayfly` command: the controller (operator, webhook,
# broker, config stream), the sidecar and the init step that writes the capture
# rules. Node 24 runs the TypeScript sources directly (type stripping), except
# for the sidecar: it runs in every pod, so it ships bundled into plain
# JavaScript (cli/scripts/bundle.ts), which keeps Node's type stripper and every
# other command's modules out of its memory.
#
#   docker build -t ghcr.io/mayfly-dev/mayfly:0.1.0 .
#
# The base is pinned by tag here; pin it by digest in a release pipeline.
ARG NODE_IMAGE=node:24-alpine

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# Manifests first, so the dependency layer is cached while sources change.
COPY package.json package-lock.json ./
COPY crds/package.json crds/
COPY webhook/package.json webhook/
COPY sidecar/package.json sidecar/
COPY operator/package.json operator/
COPY cli/package.json cli/
COPY e2e/package.json e2e/
# Production dependencies only; no install scripts run.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS bundle
WORKDIR /app
COPY . .
# All dependencies (esbuild is a development one); only the bundle leaves this stage.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node cli/scripts/bundle.ts /app/dist/sidecar

FROM ${NODE_IMAGE}
# iptables/ip6tables (with the nft backend Alpine ships) for `mayfly init`'s
# capture rules; jemalloc for the sidecar (below); nothing else.
RUN apk add --no-cache iptables ip6tables jemalloc \
 && test -e /usr/lib/libjemalloc.so.2 \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx /usr/local/lib/node_modules/corepack /usr/local/bin/corepack
WORKDIR /app
ENV NODE_ENV=production \
    NODE_OPTIONS="--disable-warning=ExperimentalWarning"
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY crds/package.json crds/mayfly.dev_workloadpolicies.yaml crds/
COPY crds/src crds/src
COPY webhook/package.json webhook/
COPY webhook/src webhook/src
COPY sidecar/package.json sidecar/
COPY sidecar/src sidecar/src
COPY operator/package.json operator/
COPY operator/src operator/src
COPY cli/package.json cli/
COPY cli/src cli/src
COPY --from=bundle /app/dist dist
# `mayfly` on PATH: the webhook injects `mayfly init` and `mayfly sidecar` as
# commands; `sidecar` runs from the bundle (the e2e kubelet's shim does the same),
# on jemalloc with one arena that returns freed pages within a second. Against
# glibc's malloc, which keeps fragments of what TLS and V8's compiler threads
# free, the benchmark measured about 12 MiB less RSS under load and no more CPU
# (docs/benchmarks.md). e2e/src/allocator.ts holds the same MALLOC_CONF: the
# e2e kubelet and the benchmark run the sidecar this way too.
# musl's allocator, this base image's own, was not measured.
RUN printf '#!/bin/sh\nif [ "$1" = sidecar ]; then export LD_PRELOAD=/usr/lib/libjemalloc.so.2 MALLOC_CONF=narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0; exec node /app/dist/sidecar/main.js "$@"; fi\nexec node /app/cli/src/main.ts "$@"\n' > /usr/local/bin/mayfly \
 && chmod 0555 /usr/local/bin/mayfly \
 && chmod -R a-w /app
# 65532: the controller's UID in the chart. The sidecar and init containers set
# their own (the sidecar's UID, root with NET_ADMIN for init) in the pod spec.
USER 65532:65532
ENTRYPOINT ["mayfly"]
CMD ["--help"]
