#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for FUZZTIME each (default 30s).
# `make test` replays the committed seed corpora (testdata/fuzz) and the f.Add
# seeds; this explores beyond them. New failing inputs land in the package's
# testdata/fuzz folder: commit them with the fix. With FUZZ_SAVE=1 the inputs
# the run found interesting (new coverage) are copied there too, to grow the
# committed corpora. FUZZ_MATCH restricts the run to targets whose name
# matches the pattern (grep -E).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
match="${FUZZ_MATCH:-.}"
cache="$(go env GOCACHE)/fuzz"
status=0
for mod in pkg services/gateway services/registry services/tokens services/signer services/sync; do
  [ -d "$mod" ] || continue
  while read -r pkg dir; do
    for target in $(cd "$mod" && go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' | grep -E "$match" || true); do
      echo "fuzz: $pkg $target for $fuzztime" >&2
      (cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "${FUZZ_PARALLEL:-2}" "$pkg") || status=1
      if [ "${FUZZ_SAVE:-}" = 1 ] && [ -d "$cache/$pkg/$target" ]; then
        mkdir -p "$dir/testdata/fuzz/$target"
        cp -n "$cache/$pkg/$target"/* "$dir/testdata/fuzz/$target/" 2>/dev/null || true
      fi
    done
  done < <(cd "$mod" && go list -f '{{.ImportPath}} {{.Dir}}' ./... 2>/dev/null)
done
exit "$status"
