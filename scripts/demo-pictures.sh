#!/usr/bin/env bash
# Regenerates the pictures the README shows: docs/demo.svg (`vany demo --plot`, the
# embedded default run: same seed, same picture) and docs/gap-grid.svg
# (`vany demo --gap-grid --plot`). No root needed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p vany-appliance --bin vany
./target/release/vany demo --plot docs/demo.svg > /dev/null
./target/release/vany demo --gap-grid --plot docs/gap-grid.svg > /dev/null
ls -l docs/demo.svg docs/gap-grid.svg
