#!/usr/bin/env python3
"""Validates a META.json against the PGXN Meta Spec v1.0.0.

Usage: validate.py FILE      prints one "error: <where>: <what>" line per
                             violation and exits 1 if there is any, 0 if none.

Written from the spec (https://pgxn.org/spec/, and the JSON schemas the PGXN
project publishes for v1): the required keys, the type and form of every key
the spec defines, custom keys only as x_ or X_, nothing else.  Debian packages
no PGXN validator (pgxnclient is a client, not a validator), hence this file.
"""
import json
import re
import sys
import unicodedata

SEMVER = (r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
          r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
          r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
          r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
VERSION_RE = re.compile("^" + SEMVER + "$")
RANGE_ONE = r"(?:(?:[=!]=|[<>]=?)\s*)?(?:" + SEMVER + "|0)"
RANGE_RE = re.compile("^" + RANGE_ONE + r"(?:,\s*" + RANGE_ONE + ")*$")
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
    "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
    "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
    "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
    "restricted", "unrestricted", "unknown",
}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONSHIPS = {"requires", "recommends", "suggests", "conflicts"}
URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

errors = []


def err(where, what):
    errors.append(f"{where}: {what}")


def custom(key):
    return isinstance(key, str) and re.match(r"^[xX]_.", key) is not None


def is_str(v, where, minlen=1):
    if not isinstance(v, str):
        err(where, f"must be a string, not {type(v).__name__}")
        return False
    if len(v) < minlen:
        err(where, f"must be at least {minlen} character(s) long")
        return False
    return True


def has_control(s):
    return any(unicodedata.category(c) == "Cc" for c in s)


def term(v, where):
    """A Term: at least 2 characters, no slash, backslash, space or control."""
    if is_str(v, where, 2) and (re.search(r"[/\\\s]", v) or has_control(v)):
        err(where, f"{v!r} is not a Term (no /, \\, whitespace or control characters)")


def tag(v, where):
    if is_str(v, where, 2):
        if len(v) > 255:
            err(where, "a tag must be at most 255 characters long")
        if re.search(r"[/\\]", v) or has_control(v):
            err(where, f"{v!r} is not a tag (no /, \\ or control characters)")


def version(v, where):
    if is_str(v, where) and not VERSION_RE.match(v):
        err(where, f"{v!r} is not a semantic version (X.Y.Z)")


def version_range(v, where):
    if isinstance(v, bool) or (isinstance(v, int) and v != 0):
        err(where, f"{v!r} is not a version range (0 or a string)")
    elif isinstance(v, int):
        return
    elif is_str(v, where) and not RANGE_RE.match(v):
        err(where, f"{v!r} is not a version range")


def path(v, where):
    if is_str(v, where, 2):
        if v.startswith("/") or "\\" in v or ".." in v.split("/"):
            err(where, f"{v!r} is not a relative path in unix convention")


def uri(v, where):
    if is_str(v, where) and not URI_RE.match(v):
        err(where, f"{v!r} is not a URI")


def email(v, where):
    if is_str(v, where) and not EMAIL_RE.match(v):
        err(where, f"{v!r} is not an email address")


def obj(v, where, known, required=(), minprops=0):
    """An object whose keys are the known ones or custom (x_); True if it is one."""
    if not isinstance(v, dict):
        err(where, f"must be an object, not {type(v).__name__}")
        return False
    for k in v:
        if k not in known and not custom(k):
            err(where, f"unknown key {k!r}")
    for k in required:
        if k not in v:
            err(where, f"required key {k!r} is missing")
    if len(v) < minprops:
        err(where, f"must have at least {minprops} key(s)")
    return True


def maintainer(v, where):
    if isinstance(v, list):
        if not v:
            err(where, "must not be empty")
        for i, m in enumerate(v):
            is_str(m, f"{where}[{i}]")
    else:
        is_str(v, where)


def license_(v, where):
    if isinstance(v, str):
        if v not in LICENSES:
            err(where, f"{v!r} is not one of the spec's license shortcuts")
    elif isinstance(v, list):
        if not v:
            err(where, "must not be empty")
        for i, lic in enumerate(v):
            if lic not in LICENSES:
                err(f"{where}[{i}]", f"{lic!r} is not one of the spec's license shortcuts")
    elif isinstance(v, dict):
        if not v:
            err(where, "must not be empty")
        for name, link in v.items():
            uri(link, f"{where}.{name}")
    else:
        err(where, "must be a license shortcut, a list of them or an object of URIs")


def provides(v, where):
    if not isinstance(v, dict) or not v:
        err(where, "must be an object naming at least one extension")
        return
    for name, ext in v.items():
        term(name, f"{where} key")
        w = f"{where}.{name}"
        if obj(ext, w, {"file", "version", "abstract", "docfile", "docpath"},
               required=("file", "version")):
            if "file" in ext:
                path(ext["file"], f"{w}.file")
            if "version" in ext:
                version(ext["version"], f"{w}.version")
            for k in ("abstract", "docpath"):
                if k in ext:
                    is_str(ext[k], f"{w}.{k}")
            if "docfile" in ext:
                path(ext["docfile"], f"{w}.docfile")


def prereqs(v, where):
    if not obj(v, where, PHASES, minprops=1):
        return
    for phase, rels in v.items():
        if custom(phase):
            continue
        w = f"{where}.{phase}"
        if not obj(rels, w, RELATIONSHIPS, minprops=1):
            continue
        for rel, reqs in rels.items():
            if custom(rel):
                continue
            wr = f"{w}.{rel}"
            if not isinstance(reqs, dict) or not reqs:
                err(wr, "must be an object naming at least one prerequisite")
                continue
            for name, rng in reqs.items():
                term(name, f"{wr} key")
                version_range(rng, f"{wr}.{name}")


def resources(v, where):
    if not obj(v, where, {"homepage", "bugtracker", "repository"}, minprops=1):
        return
    if "homepage" in v:
        uri(v["homepage"], f"{where}.homepage")
    if "bugtracker" in v:
        bt = v["bugtracker"]
        w = f"{where}.bugtracker"
        if obj(bt, w, {"web", "mailto"}):
            if "web" not in bt and "mailto" not in bt:
                err(w, "needs web or mailto")
            if "web" in bt:
                uri(bt["web"], f"{w}.web")
            if "mailto" in bt:
                email(bt["mailto"], f"{w}.mailto")
    if "repository" in v:
        rp = v["repository"]
        w = f"{where}.repository"
        if obj(rp, w, {"url", "web", "type"}):
            if "web" not in rp and not ("url" in rp and "type" in rp):
                err(w, "needs web, or url and type")
            for k in ("url", "web"):
                if k in rp:
                    uri(rp[k], f"{w}.{k}")
            if "type" in rp and is_str(rp["type"], f"{w}.type") and rp["type"] != rp["type"].lower():
                err(f"{w}.type", "must be lower case")


def no_index(v, where):
    if not obj(v, where, {"file", "directory"}):
        return
    if "file" not in v and "directory" not in v:
        err(where, "needs file or directory")
    for k in ("file", "directory"):
        if k in v:
            items = v[k] if isinstance(v[k], list) else [v[k]]
            if isinstance(v[k], list) and not v[k]:
                err(f"{where}.{k}", "must not be empty")
            for i, p in enumerate(items):
                path(p, f"{where}.{k}[{i}]")


def validate(meta):
    top = {"name", "abstract", "description", "version", "maintainer", "license",
           "provides", "meta-spec", "generated_by", "tags", "no_index", "prereqs",
           "release_status", "resources"}
    if not obj(meta, "META", top, required=("name", "abstract", "version", "maintainer",
                                           "license", "provides", "meta-spec")):
        return
    checks = {
        "name": term, "version": version, "abstract": is_str, "description": is_str,
        "generated_by": is_str, "maintainer": maintainer, "license": license_,
        "provides": provides, "prereqs": prereqs, "resources": resources,
        "no_index": no_index,
    }
    for k, f in checks.items():
        if k in meta:
            f(meta[k], k)
    if "meta-spec" in meta:
        ms = meta["meta-spec"]
        if obj(ms, "meta-spec", {"version", "url"}, required=("version",)):
            if "version" in ms and is_str(ms["version"], "meta-spec.version") \
                    and not re.match(r"^1\.0\.\d+$", ms["version"]):
                err("meta-spec.version", f"{ms['version']!r} is not 1.0.x")
            if "url" in ms and ms["url"] not in ("https://pgxn.org/meta/spec.txt",
                                                 "http://pgxn.org/meta/spec.txt"):
                err("meta-spec.url", f"{ms['url']!r} is not the spec's URL")
    if "tags" in meta:
        if not isinstance(meta["tags"], list) or not meta["tags"]:
            err("tags", "must be a non-empty array")
        else:
            for i, t in enumerate(meta["tags"]):
                tag(t, f"tags[{i}]")
    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        err("release_status", f"{meta['release_status']!r} is not stable, testing or unstable")


def main():
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        print(f"error: {sys.argv[1]}: {e}")
        return 1
    validate(meta)
    for e in errors:
        print(f"error: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
