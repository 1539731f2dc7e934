#!/bin/sh
# The release archive (issue 19): `make dist` makes build/sanse-X.Y.Z.zip
# (X.Y.Z from META.json) with git archive, as PGXN takes it: one top directory
# sanse-X.Y.Z/ holding exactly the files committed at HEAD.  It holds what
# the build needs (Makefile, sanse.control, META.json, LICENSE, the C sources
# of the Makefile's OBJS and their headers, src/sql and the change files the
# current scripts are made from, every released script of the Makefile's
# DATA) and nothing generated (no built script, object, library, nothing git
# ignores); unpacked elsewhere it builds with make and installs the same
# extension files as this tree.  Needs git and PGXS, no database.  Prints
# TAP-like "ok - ..." / "not ok - ..." lines; exits non-zero on any failure.
cd "$(dirname "$0")/.." || exit 2
MAKE=${MAKE:-make}
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; fail=1; }
# mk <variable>...: the values of the Makefile's variables
mk() {
	for v in "$@"; do printf ' $(%s)' "$v"; done >"$tmp/vars"
	printf 'print-vars:\n\t@echo %s\n' "$(cat "$tmp/vars")" |
		MAKEFLAGS= $MAKE -s --no-print-directory -f Makefile -f - print-vars
}

version=$(python3 -c 'import json; print(json.load(open("META.json"))["version"])')
zip=build/sanse-$version.zip
rm -f "$zip"
if $MAKE -s --no-print-directory dist >"$tmp/dist.log" 2>&1 && [ -f "$zip" ]; then
	ok "make dist makes $zip"
else
	not_ok "make dist makes $zip"
	sed 's/^/# /' "$tmp/dist.log"
	exit 1
fi

# the archive's files, without the top directory; the top directories
python3 - "$zip" "$tmp/files" "$tmp/tops" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
with open(sys.argv[2], "w") as f:
    for n in sorted(names):
        if not n.endswith("/"):
            f.write(n.split("/", 1)[1] if "/" in n else "/" + n)
            f.write("\n")
with open(sys.argv[3], "w") as f:
    f.write("\n".join(sorted({n.split("/", 1)[0] for n in names})) + "\n")
PY
if [ "$(cat "$tmp/tops")" = "sanse-$version" ]; then
	ok "every entry is under one top directory sanse-$version/"
else
	not_ok "every entry is under one top directory sanse-$version/: $(tr '\n' ' ' <"$tmp/tops")"
fi

git ls-tree -r --name-only HEAD | sort >"$tmp/committed"
if diff "$tmp/committed" "$tmp/files" >"$tmp/out"; then
	ok "the archive holds exactly the files committed at HEAD ($(wc -l <"$tmp/files"))"
else
	not_ok "the archive holds exactly the files committed at HEAD"
	sed 's/^/# /' "$tmp/out" | head -20
fi

# what the build needs
need="Makefile sanse.control META.json LICENSE README.md"
for o in $(mk OBJS); do need="$need ${o%.o}.c"; done
need="$need $(mk SQL_SOURCES UPDATE_SOURCES DATA) $(ls src/*.h) $(git ls-files src/updates)"
missing=
for f in $need; do
	grep -qx "$f" "$tmp/files" || missing="$missing $f"
done
if [ -z "$missing" ]; then
	ok "it holds what the build needs: Makefile, sanse.control, the C sources and headers, src/sql, the change files, the released scripts ($(echo $need | wc -w) files)"
else
	not_ok "it holds what the build needs: missing$missing"
fi

# nothing generated
generated=
for f in $(mk DATA_built); do
	grep -qx "$f" "$tmp/files" && generated="$generated $f"
done
generated="$generated $(grep -E '\.(o|so|bc|deb|zip)$|^build/|node_modules/|^results/|^output_iso/|regression\.(diffs|out)$' "$tmp/files" | tr '\n' ' ')"
ignored=$(git check-ignore --no-index --stdin <"$tmp/files" | tr '\n' ' ')
if [ -z "$(echo $generated $ignored)" ]; then
	ok "nothing generated: no built script ($(mk DATA_built)), object, library or file git ignores"
else
	not_ok "nothing generated:$generated $ignored"
fi

# unpacked elsewhere, it builds and installs what this tree installs
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$tmp/unpacked"
src=$tmp/unpacked/sanse-$version
start=$(date +%s)
if $MAKE -s -C "$src" PG_CONFIG=$PG_CONFIG >"$tmp/build.log" 2>&1 &&
	$MAKE -s -C "$src" PG_CONFIG=$PG_CONFIG install DESTDIR="$tmp/dest" >>"$tmp/build.log" 2>&1; then
	ok "the unpacked archive builds and installs with make ($(($(date +%s) - start)) s)"
else
	not_ok "the unpacked archive builds and installs with make"
	tail -20 "$tmp/build.log" | sed 's/^/# /'
fi
(cd "$tmp/dest" 2>/dev/null && find . -type f | sed 's|^\.||' | sort) >"$tmp/installed"
extdir=$($PG_CONFIG --sharedir)/extension
libdir=$($PG_CONFIG --pkglibdir)
{
	for f in sanse.control $(mk DATA DATA_built); do echo "$extdir/$(basename "$f")"; done
	echo "$libdir/sanse.so"
} | sort >"$tmp/expected"
if diff "$tmp/expected" "$tmp/installed" >"$tmp/out"; then
	ok "it installs sanse.control, sanse.so and every script of the Makefile ($(wc -l <"$tmp/installed") files)"
else
	not_ok "it installs sanse.control, sanse.so and every script of the Makefile"
	sed 's/^/# /' "$tmp/out"
fi
exit $fail
