#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds a single-layer OCI image archive from local files, for
# "ctr -n k8s.io images import" (no registry anywhere).
#
#   image.sh -o OUT.tar -n REF [-e ENTRYPOINT_JSON] [-c CMD_JSON]
#            [-b] [-a SRC:DEST]...
#
#   -n REF   full image name, e.g. localhost/azds-k8s/busybox:1.35; it is
#            recorded in index.json as io.containerd.image.name, the name
#            ctr gives the imported image
#   -b       the layer gets busybox-static as /bin/busybox with a link for
#            every applet under /bin, plus /etc/passwd and /etc/group
#   -a       adds a file (mode kept) at DEST in the layer
#   -A       the same, plus the shared libraries "ldd SRC" lists, at their
#            own paths (the project's binaries are linked dynamically)
#   -e, -c   JSON arrays, e.g. '["/bin/sleep","infinity"]'
#
# The archive is reproducible: the same inputs give the same digests
# (sorted tar, zero mtimes, numeric root owner).
set -euo pipefail

die() { printf 'k8s-image: %s\n' "$*" >&2; exit 1; }

out='' ref='' entry=null cmd=null busybox=0
adds=() libs=()
while getopts "o:n:e:c:ba:A:" o; do
	case $o in
	o) out=$OPTARG ;;
	n) ref=$OPTARG ;;
	e) entry=$OPTARG ;;
	c) cmd=$OPTARG ;;
	b) busybox=1 ;;
	a) adds+=("$OPTARG") ;;
	A)
		adds+=("$OPTARG")
		libs+=("${OPTARG%%:*}")
		;;
	*) die "usage: image.sh -o OUT.tar -n REF [-e JSON] [-c JSON] [-b] [-a|-A SRC:DEST]..." ;;
	esac
done
[ -n "$out" ] && [ -n "$ref" ] || die "-o and -n are required"

work=$(mktemp -d "${TMPDIR:-/tmp}/azds-k8s-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/root"
chmod 1777 "$root/tmp"

if [ $busybox -eq 1 ]; then
	bb=/bin/busybox
	[ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 || die "busybox-static is not installed (apt-get install busybox-static)"
	file -L "$bb" 2>/dev/null | grep -q 'dynamically' && die "$bb is not static"
	cp "$bb" "$root/bin/busybox"
	for a in $("$bb" --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
fi

for a in "${adds[@]}"; do
	src=${a%%:*} dst=${a#*:}
	[ -f "$src" ] || die "no file $src"
	mkdir -p "$root$(dirname "$dst")"
	cp -p "$src" "$root$dst"
done

for b in "${libs[@]}"; do
	# "libx.so.1 => /lib/.../libx.so.1 (0x...)" and the loader's
	# "/lib64/ld-linux-x86-64.so.2 (0x...)"; a static binary lists none.
	ldd "$b" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r l; do
			mkdir -p "$root$(dirname "$l")"
			cp -L "$l" "$root$l"
		done
done

blobs=$work/oci/blobs/sha256
mkdir -p "$blobs"

# blob FILE -> prints "digest size", moves FILE into blobs/.
blob() {
	local d s
	d=$(sha256sum "$1" | cut -d' ' -f1)
	s=$(stat -c %s "$1")
	mv "$1" "$blobs/$d"
	echo "$d $s"
}

tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
	--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
	-cf "$work/layer.tar" .
read -r ldig lsize < <(blob "$work/layer.tar")

printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin:/usr/bin:/sbin:/usr/sbin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"azds tests/k8s/image.sh"}]}' \
	"$entry" "$cmd" "$ldig" >"$work/config.json"
read -r cdig csize < <(blob "$work/config.json")

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
	"$cdig" "$csize" "$ldig" "$lsize" >"$work/manifest.json"
read -r mdig msize < <(blob "$work/manifest.json")

tag=${ref##*:}
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
	"$mdig" "$msize" "$ref" "$tag" >"$work/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"

mkdir -p "$(dirname "$out")"
tar -C "$work/oci" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
