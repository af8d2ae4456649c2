#!/usr/bin/env bash
# check-templ.sh: fail when a committed *_templ.go differs from what
# `templ generate` makes of the .templ files, without touching the tree:
# each folder of .templ files is generated afresh in a temporary copy.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stale=0
while IFS= read -r dir; do
	copy=$tmp/$dir
	mkdir -p "$copy"
	cp "$dir"/*.templ "$copy"/
	go tool templ generate -path "$copy" >/dev/null 2>&1
	for f in "$dir"/*.templ; do
		gen=${f%.templ}_templ.go
		if [ ! -f "$gen" ]; then
			echo "templ: $gen is missing: run 'make generate'" >&2
			stale=1
		elif ! cmp -s "$copy/$(basename "$gen")" "$gen"; then
			echo "templ: $gen is not current with $f: run 'make generate'" >&2
			stale=1
		fi
	done
done < <(git ls-files '*.templ' | xargs -r -n1 dirname | sort -u)
exit $stale
