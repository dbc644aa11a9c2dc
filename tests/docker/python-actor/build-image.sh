#!/usr/bin/env bash
# Builds wactor-test/python-sdk:1 without a registry: a minimal Debian
# (debootstrap from Debian's mirror), a venv with the real `apify` SDK from
# PyPI, and main.py; imported with `docker import`. Run as root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-wactor-test/python-sdk:1}"
command -v debootstrap >/dev/null || apt-get install -y debootstrap >/dev/null
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" http://deb.debian.org/debian >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" python3 -m venv /opt/venv
# pip inside the chroot trusts what the host's pip trusts (a package proxy's CA, say); the image keeps its own bundle.
bundle=etc/ssl/certs/ca-certificates.crt
cp "$root/$bundle" "$root/$bundle.image"
cp "/$bundle" "$root/$bundle"
chroot "$root" env -u PIP_FIND_LINKS /opt/venv/bin/pip install --quiet --disable-pip-version-check "apify==4.1.0"
mv "$root/$bundle.image" "$root/$bundle"
mkdir -p "$root/actor"
cp "$here/main.py" "$root/actor/main.py"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/root/.cache"
tar -C "$root" -c . | docker import --change 'CMD ["/opt/venv/bin/python", "/actor/main.py"]' --change 'WORKDIR /actor' - "$image" >/dev/null
echo "built $image"
