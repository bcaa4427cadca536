#!/usr/bin/env bash
# Builds the Debian package of vany (appliance/Cargo.toml, [package.metadata.deb]):
# the release binary, its man pages and shell completions (`vany generate-docs`, from the
# same clap definitions), then `cargo deb`. Prints the .deb's path as the last line.
# Needs cargo-deb (`cargo install cargo-deb --locked`) and dpkg-dev (dpkg-shlibdeps, for
# the dependencies of the binary).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null 2>&1 || {
    echo "build-deb.sh: cargo-deb is missing: cargo install cargo-deb --locked" >&2
    exit 2
}
target=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || { echo "build-deb.sh: cannot find cargo's target directory" >&2; exit 2; }

cargo build --release -p vany-appliance --bin vany >&2
bin="$target/release/vany"
docs="$target/release/vany-docs"
rm -rf "$docs"
"$bin" generate-docs "$docs" >/dev/null
# Debian policy: man pages gzipped (-n: no name or time stamp, the same bytes each build).
# cargo-deb compresses only the man pages it does not take from target/.
gzip -9n "$docs"/man1/*.1

# A vany built without DPDK links no librte library: the package must not depend on DPDK.
variant=()
if ! ldd "$bin" | grep -q 'librte_eal'; then
    echo "build-deb.sh: vany was built without DPDK: package variant no-dpdk" >&2
    variant=(--variant no-dpdk)
fi
# --strip: the release profile keeps line tables (debug = 1) for local profiling; the
# package ships a stripped binary. cargo-deb prints the .deb's path on stdout.
deb=$(cargo deb -p vany-appliance --no-build --strip "${variant[@]}" | tail -n 1)
[ -n "$deb" ] && [ -f "$deb" ] || { echo "build-deb.sh: cargo deb did not report a .deb" >&2; exit 1; }
echo "$deb"
