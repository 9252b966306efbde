#!/usr/bin/env bash
# Can this machine run the images at all? Installs Podman from Debian's packages (if missing),
# imports a one-file image (busybox, no registry needed) and tries to start it with each OCI
# runtime Debian ships (crun, runc). Prints what happened; exits 0 if a container ran, 1 if none
# could. The result on our CI machines is quoted in deploy/README.md ("Containers").
#
#   sudo bash deploy/container_runtime_check.sh
set -uo pipefail

say() { printf '%s\n' "$*"; }

if ! command -v podman >/dev/null; then
  say "installing podman, runc and busybox-static from Debian's packages"
  apt-get install -y podman runc busybox-static >/dev/null 2>&1 || { say "apt-get install failed"; exit 1; }
fi
command -v runc >/dev/null || apt-get install -y runc >/dev/null 2>&1
[ -x /bin/busybox ] || apt-get install -y busybox-static >/dev/null 2>&1
say "podman: $(podman --version)"
say "docker: $(docker --version 2>/dev/null || echo 'no client') / engine: $(docker info >/dev/null 2>&1 && echo running || echo 'none running')"
say "capabilities of this shell: $(grep CapBnd /proc/self/status) (CAP_SYS_RESOURCE is bit 24)"

say "registry: $(timeout 30 podman pull -q docker.io/library/python:3.11-slim >/dev/null 2>&1 && echo 'reachable' || echo 'unreachable (the images start FROM python:3.11-slim)')"

root=$(mktemp -d)
mkdir -p "$root/bin" && cp /bin/busybox "$root/bin/"
tar -C "$root" -cf "$root.tar" . && podman import -q "$root.tar" genofed-runtime-check:1 >/dev/null
ran=1
for runtime in crun runc; do
  path=$(command -v "$runtime") || continue
  for limits in "" "--ulimit nofile=$(ulimit -Hn):$(ulimit -Hn) --ulimit nproc=$(ulimit -Hu):$(ulimit -Hu)"; do
    # shellcheck disable=SC2086  # the ulimit options are meant to split
    out=$(timeout 60 podman --runtime "$path" run --rm $limits genofed-runtime-check:1 /bin/busybox echo container-ran 2>&1)
    say "podman run with $runtime ${limits:+($limits)}: ${out##*$'\n'}"
    [ "${out##*$'\n'}" = "container-ran" ] && ran=0
  done
done
podman rmi -f genofed-runtime-check:1 >/dev/null 2>&1
rm -rf "$root" "$root.tar"
exit $ran
