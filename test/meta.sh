#!/bin/sh
# The release metadata (issue 19): META.json is valid under the PGXN Meta Spec
# v1.0.0 (test/meta/validate.py, written from the spec: Debian packages no
# PGXN validator), and the validator rejects what the spec forbids; the
# versions agree (META.json's X.Y.Z, its provides, sanse.control's X.Y,
# debian/changelog's X.Y.Z-N); META.json's runtime prerequisites are the
# extensions sanse.control requires plus PostgreSQL 15; the files it names
# exist; LICENSE is the PostgreSQL Licence of the sanse authors, with the same
# text as debian/copyright; debian/control is what pg_buildext makes of
# debian/control.in.  No database needed.  Prints TAP-like "ok - ..." /
# "not ok - ..." lines; exits non-zero on any failure.
cd "$(dirname "$0")/.." || exit 2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; fail=1; }
validate() { python3 test/meta/validate.py "$1"; }

if validate META.json >"$tmp/out" 2>&1; then
	ok "META.json is valid under the PGXN Meta Spec v1.0.0"
else
	not_ok "META.json is valid under the PGXN Meta Spec v1.0.0"
	sed 's/^/# /' "$tmp/out"
fi

# the validator is not a rubber stamp: each of these breaks one rule of the spec
# rejects <description> <python statement on m, the parsed META.json>
rejects() {
	python3 - "$2" >"$tmp/broken.json" <<'PY' || { not_ok "validator rejects $1 (could not make the case)"; return; }
import json, sys
m = json.load(open("META.json"))
exec(sys.argv[1])
print(json.dumps(m))
PY
	if validate "$tmp/broken.json" >"$tmp/out" 2>&1; then
		not_ok "validator rejects $1"
	else
		ok "validator rejects $1 ($(head -1 "$tmp/out"))"
	fi
}
rejects "a missing name" 'del m["name"]'
rejects "a missing provides" 'del m["provides"]'
rejects "a two-part version" 'm["version"] = "1.4"'
rejects "a license that is no shortcut" 'm["license"] = "gpl"'
rejects "an extension without its file" 'del m["provides"]["sanse"]["file"]'
rejects "an unknown top-level key" 'm["homepage"] = "https://example.org/"'
rejects "a prerequisite version that is no range" 'm["prereqs"]["runtime"]["requires"]["PostgreSQL"] = "15"'
rejects "an unknown phase" 'm["prereqs"]["install"] = {"requires": {"ltree": 0}}'
rejects "a meta-spec version other than 1.0.x" 'm["meta-spec"]["version"] = "2.0.0"'
rejects "a tag with a slash" 'm["tags"].append("a/b")'
rejects "a name with a space" 'm["name"] = "san se"'
rejects "a bugtracker address that is no email" 'm["resources"]["bugtracker"] = {"mailto": "nobody"}'

# the versions agree
control=$(sed -n "s/^default_version = '\(.*\)'/\1/p" sanse.control)
python3 - "$control" >"$tmp/out" 2>&1 <<'PY'
import json, re, sys
control = sys.argv[1]
m = json.load(open("META.json"))
v = m["version"]
bad = []
if not re.match(re.escape(control) + r"\.\d+$", v):
    bad.append(f"META.json version {v} is not {control}.N (sanse.control)")
for name, ext in m["provides"].items():
    if ext["version"] != v:
        bad.append(f"provides.{name}.version {ext['version']} is not {v}")
if "sanse" not in m["provides"]:
    bad.append("provides names no extension sanse")
first = open("debian/changelog").readline()
cv = re.match(r"^sanse \(([^)]*)\)", first)
if not cv or re.sub(r"-[^-]*$", "", cv.group(1)) != v:
    bad.append(f"debian/changelog's first entry {first.strip()!r} is not version {v}-N")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
if [ $? -eq 0 ]; then
	ok "META.json, its provides, sanse.control ($control) and debian/changelog agree on the version"
else
	not_ok "META.json, its provides, sanse.control ($control) and debian/changelog agree on the version"
	sed 's/^/# /' "$tmp/out"
fi

# the prerequisites are what CREATE EXTENSION needs; the named files are there
requires=$(sed -n "s/^requires = '\(.*\)'/\1/p" sanse.control)
python3 - "$requires" >"$tmp/out" 2>&1 <<'PY'
import json, os, sys
m = json.load(open("META.json"))
bad = []
req = dict(m["prereqs"]["runtime"]["requires"])
pg = req.pop("PostgreSQL", None)
if pg != ">= 15.0.0, < 16.0.0":
    bad.append(f"runtime requires PostgreSQL {pg!r}, not '>= 15.0.0, < 16.0.0'")
want = sorted(x.strip() for x in sys.argv[1].split(",") if x.strip())
if sorted(req) != want:
    bad.append(f"runtime requires {sorted(req)} besides PostgreSQL, sanse.control {want}")
for name, ext in m["provides"].items():
    for k in ("file", "docfile"):
        if k in ext and not os.path.isfile(ext[k]):
            bad.append(f"provides.{name}.{k} {ext[k]} is not a file")
if m["license"] != "postgresql":
    bad.append(f"license is {m['license']!r}, not 'postgresql'")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
if [ $? -eq 0 ]; then
	ok "META.json requires PostgreSQL 15 and what sanse.control requires ($requires), names files that exist, license postgresql"
else
	not_ok "META.json requires PostgreSQL 15 and what sanse.control requires ($requires), names files that exist, license postgresql"
	sed 's/^/# /' "$tmp/out"
fi

# LICENSE: the PostgreSQL Licence, the sanse authors, the text debian/copyright carries
if head -1 LICENSE | grep -qx 'PostgreSQL Licence' &&
	grep -qx 'Copyright (c) 2026, the sanse authors' LICENSE; then
	ok "LICENSE is the PostgreSQL Licence, copyright 2026 the sanse authors"
else
	not_ok "LICENSE is the PostgreSQL Licence, copyright 2026 the sanse authors"
fi
# the licence's paragraphs (from "Permission") as words, in both files
sed -n '/^Permission/,$p' LICENSE | tr -s ' \n' '\n\n' >"$tmp/license"
sed -n '/^License: PostgreSQL$/,$p' debian/copyright | sed -n '/Permission/,$p' |
	sed -e 's/^ \.$//' -e 's/^ //' | tr -s ' \n' '\n\n' >"$tmp/copyright"
if [ -s "$tmp/license" ] && diff "$tmp/license" "$tmp/copyright" >"$tmp/out"; then
	ok "debian/copyright carries LICENSE's text"
else
	not_ok "debian/copyright carries LICENSE's text"
	sed 's/^/# /' "$tmp/out"
fi

# debian/control is generated from debian/control.in (pg_buildext checkcontrol)
if ! command -v pg_buildext >/dev/null 2>&1; then
	not_ok "pg_buildext is installed (make deps installs postgresql-server-dev-all)"
elif pg_buildext checkcontrol >"$tmp/out" 2>&1; then
	ok "debian/control is what pg_buildext makes of debian/control.in"
else
	not_ok "debian/control is what pg_buildext makes of debian/control.in"
	sed 's/^/# /' "$tmp/out"
fi
exit $fail
