#!/bin/sh
# fetch.sh NAME OUTDIR: takes NAME's pinned upstream tarball from Debian's
# source package (apt-get source --download-only), checks its sha256 against
# third_party/checksums and unpacks it to OUTDIR/<unpacks-to>.  Nothing it
# fetches is ever committed (build/ is git-ignored).
set -eu
name=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
line=$(awk -v n="$name" '$1 == n' "$here/checksums")
[ -n "$line" ] || { echo "fetch.sh: $name: not in checksums" >&2; exit 1; }
set -- $line
src=$2 tarball=$3 sum=$4 dir=$5

[ -d "$out/$dir" ] && exit 0
mkdir -p "$out/dl"
if [ ! -f "$out/dl/$tarball" ]; then
	"$here/deps.sh"
	(cd "$out/dl" && apt-get source --download-only -qq "$src" 2>&1 |
		grep -v 'unsandboxed' || true)
fi
[ -f "$out/dl/$tarball" ] ||
	{ echo "fetch.sh: $src did not provide $tarball" >&2; exit 1; }
got=$(sha256sum "$out/dl/$tarball" | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then
	echo "fetch.sh: $tarball: sha256 $got, expected $sum" >&2
	rm -f "$out/dl/$tarball"
	exit 1
fi
rm -rf "$out/$dir.tmp" && mkdir -p "$out/$dir.tmp"
tar -xf "$out/dl/$tarball" -C "$out/$dir.tmp"
mv "$out/$dir.tmp/$dir" "$out/$dir" && rmdir "$out/$dir.tmp"
# Patches of ours (numbered, applied in order); upstream stays pristine in git.
for p in "$here/$name/patches"/*.patch; do
	[ -f "$p" ] || continue
	patch -s -d "$out/$dir" -p1 < "$p"
done
echo "fetch.sh: $name ready in $out/$dir"
