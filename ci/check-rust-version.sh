#!/usr/bin/env bash
# The workspace's declared rust-version must be at least every locked dependency's: a lower
# one promises a toolchain the lockfile cannot build with.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, sys
doc = json.load(sys.stdin)
key = lambda v: tuple((list(map(int, v.split("."))) + [0, 0])[:3])
ours = {p["name"]: p.get("rust_version") for p in doc["packages"] if p["source"] is None}
declared = min(v for v in ours.values() if v)
needed = max(((p["rust_version"], p["name"]) for p in doc["packages"] if p["source"] and p.get("rust_version")), key=lambda t: key(t[0]))
if key(declared) < key(needed[0]):
    sys.exit(f"rust-version {declared} is below {needed[0]}, which {needed[1]} in Cargo.lock needs")
print(f"rust-version {declared}: at least every locked dependency needs (highest: {needed[1]} {needed[0]})")
'
