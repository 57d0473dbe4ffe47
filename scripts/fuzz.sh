#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for FUZZTIME each (default 30s).
# `make test` replays the committed seed corpora (testdata/fuzz) and the f.Add
# seeds; this explores beyond them. New failing inputs land in the package's
# testdata/fuzz folder: commit them with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
status=0
for mod in pkg services/gateway services/registry services/tokens services/signer services/sync; do
  [ -d "$mod" ] || continue
  while read -r pkg; do
    for target in $(cd "$mod" && go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
      echo "fuzz: $pkg $target for $fuzztime" >&2
      (cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg") || status=1
    done
  done < <(cd "$mod" && go list ./... 2>/dev/null)
done
exit "$status"
