#!/usr/bin/env bash
# Builds wactor-test/js-sdk:1 without a registry: this machine's Node.js
# (20 or newer: crawlee, under the SDK, does not load on 18) with the
# libraries it links, and the real `apify` SDK from the npm registry;
# imported with `docker import`. main.mjs goes on top in the test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-wactor-test/js-sdk:1}"
node="$(command -v node)"
major="$("$node" -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "Node.js 20 or newer is needed, found $("$node" --version)" >&2; exit 1; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/actor" "$root/tmp" "$root/usr/bin" "$root/etc"
install -m 755 "$(readlink -f "$node")" "$root/usr/bin/node"
# The shared libraries node links, at the paths the loader looks for them.
for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
cp "$here/package.json" "$here/package-lock.json" "$root/actor/"
(cd "$root/actor" && npm ci --silent --no-audit --no-fund --omit=dev >/dev/null)
tar -C "$root" -c . | docker import --change 'CMD ["/usr/bin/node", "/actor/main.mjs"]' --change 'WORKDIR /actor' - "$image" >/dev/null
echo "built $image"
