#!/usr/bin/env bash
# Proves scripts/check-layering rejects what DESIGN.md §3 forbids and accepts what it allows.
set -euo pipefail
script="$(cd "$(dirname "$0")/../.." && pwd)/scripts/check-layering"
tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT

write() { mkdir -p "$(dirname "$tree/$1")"; printf '%s\n' "$2" > "$tree/$1"; }
expect() { # expect <0|1> <description>
  local want="$1" got=0
  python3 "$script" --root "$tree" > "$tree.out" 2>&1 || got=$?
  if [[ "$got" != "$want" ]]; then
    echo "FAIL: $2 (exit $got, wanted $want)"; cat "$tree.out"; exit 1
  fi
  echo "ok: $2"
}

write libs/crypto/src/a.cpp '#include "aegis/base/error.hpp"'
write server/broker/src/b.cpp '#include "aegis/base/log.hpp"
#include <aegis/mqtt/codec.hpp>'
expect 0 "allowed direct and transitive includes pass"

write libs/base/src/bad.cpp '#include "aegis/crypto/keys.hpp"'
expect 1 "base including crypto is refused"
rm "$tree/libs/base/src/bad.cpp"

write sdk/src/bad.cpp '#include "aegis/broker/session.hpp"'
expect 1 "the SDK including a server module is refused"
rm "$tree/sdk/src/bad.cpp"

write libs/mqtt/src/bad.cpp '#include "../../crypto/src/ossl.hpp"'
expect 1 "reaching into another module's private files is refused"
rm "$tree/libs/mqtt/src/bad.cpp"

write libs/mqtt/CMakeLists.txt 'aegis_module(NAME mqtt DEPS base crypto)'
expect 1 "a CMake declaration of a forbidden dependency is refused"
write libs/mqtt/CMakeLists.txt 'aegis_module(NAME mqtt DEPS base EXTERNAL fmt::fmt)'
expect 0 "an allowed CMake declaration passes"
