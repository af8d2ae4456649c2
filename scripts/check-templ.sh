#!/usr/bin/env bash
# check-templ.sh: fail when a generated *_templ.go differs from what
# `templ generate` makes of its .templ file, without touching the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
stale=0
while IFS= read -r f; do
	gen=${f%.templ}_templ.go
	if [ ! -f "$gen" ]; then
		echo "templ: $gen is missing: run 'make generate'" >&2
		stale=1
		continue
	fi
	if ! diff -q <(go tool templ generate -f "$f" -stdout 2>/dev/null) "$gen" >/dev/null; then
		echo "templ: $gen is not current with $f: run 'make generate'" >&2
		stale=1
	fi
done < <(find . -name '*.templ' -not -path './.stack/*' | sort)
exit $stale
