#!/usr/bin/env bash
# The test command of README.md: go vet, then go test -race, in every Go
# module of the repository (the root, bench/, and each sink or metrics
# module with its own go.mod). `go test ./...` alone never enters a nested
# module, so each is tested from its own directory. Arguments are passed to
# go test, e.g. `bash scripts/test.sh -count=1` or `-run TestX`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off # each module as its users build it, with its own go.mod

modules=$(find . -name go.mod -not -path './.git/*' -exec dirname {} \; | LC_ALL=C sort)
for m in $modules; do
  echo "== module $m"
  (cd "$m" && go vet ./... && go test -race "$@" ./...)
done
