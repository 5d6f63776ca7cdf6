#!/usr/bin/env bash
# The test command of README.md: go vet, then go test -race, in every Go
# module of the repository. `go test ./...` alone never enters a nested
# module, so each is tested from its own directory. Arguments are passed to
# go test, e.g. `bash scripts/test.sh -count=1` or `-run TestX`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOWORK=off # each module as its users build it, with its own go.mod

# Every module, named here; a go.mod this list misses fails the run.
modules=(. bench bench/otelq metrics/otel metrics/prometheus sinks/kafka sinks/nats)
found=$(find . -name go.mod -not -path './.git/*' -exec dirname {} \; | sed 's|^\./||' | LC_ALL=C sort)
listed=$(printf '%s\n' "${modules[@]}" | LC_ALL=C sort)
if [ "$found" != "$listed" ]; then
  echo "scripts/test.sh: the modules found are not the modules listed:"
  diff <(echo "$listed") <(echo "$found") || true
  exit 1
fi

for m in "${modules[@]}"; do
  echo "== module $m"
  (cd "$m" && go vet ./... && go test -race "$@" ./...)
done

# Files are format 2; format 1 is still read, migrated and (with
# store.Options.Format 1) written: wal's tests once more on format 1 files.
echo "== wal on format 1 files"
WALBATCH_TEST_FORMAT=1 go test -race "$@" ./wal
