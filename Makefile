# sanse — PGXS build.  `make test` and `make demo` also install what is
# missing on a Debian 12 machine and run inside a throw-away cluster.

EXTENSION   = sanse
MODULE_big  = sanse
OBJS        = src/sanse.o src/trigger_guard.o src/checklist.o src/risk_tier.o src/visit_window.o src/cadence.o src/cache.o src/policy.o src/rules.o src/resident.o src/secret.o src/door_token.o src/checkin.o src/checkin_read.o src/input.o src/area_access.o src/vocabulary.o src/resident_id.o src/device_cache.o src/reading.o src/loop_path.o src/area_count.o
# The current version's install script is built from the SQL sources in
# src/sql, one file per concept beside its C; released scripts and the deltas
# between versions are kept as they shipped.
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" sanse.control)
SQL_SOURCES = $(sort $(wildcard src/sql/*.sql))
# The delta to the current version is generated (TimescaleDB's habit): the
# hand-written change files in src/updates/<from>--<to>/ in name order (what
# must change in place: ALTER TABLE, new tables, data moves), then every
# function and view of src/sql again as CREATE OR REPLACE, with the comments,
# grants and settings that follow them (src/updates/replaceable.pl).  Released
# scripts are kept as they shipped; test/catalog.sh checks that a fresh install
# equals every upgrade path.
UPDATE_FROM    = 1.4
UPDATE_SOURCES = $(sort $(wildcard src/updates/$(UPDATE_FROM)--$(EXTVERSION)/*.sql))
DATA_built  = sanse--$(EXTVERSION).sql sanse--$(UPDATE_FROM)--$(EXTVERSION).sql
DATA        = sanse--1.0.sql sanse--1.0--1.1.sql sanse--1.1--1.2.sql \
              sanse--1.2--1.3.sql sanse--1.3--1.4.sql
PGFILEDESC  = "sanse - three-colour household assistance"
# The free-text limit is written once, in C (src/vocabulary.h); the scripts
# get it where the SQL sources say @SANSE_FREE_TEXT_MAX@.
FREE_TEXT_MAX = $(shell sed -n 's/^\#define SANSE_FREE_TEXT_MAX[[:space:]]*\([0-9][0-9]*\)[[:space:]]*$$/\1/p' src/vocabulary.h)
SQL_LIMITS    = sed 's/@SANSE_FREE_TEXT_MAX@/$(FREE_TEXT_MAX)/g'

REGRESS      = risk_tier visit_window cadence sweep_plans tally_plans security checkin_log
REGRESS_OPTS = --inputdir=. --load-extension=ltree --load-extension=pgcrypto --load-extension=sanse
ISOLATION      = area_access_fresh checkin_vs_sweep two_sweeps tier_change_vs_sweep rule_edit_vs_resident tally_concurrent cache_fresh loop_arrive_vs_sweep loop_two_arrivals loop_evaluate_vs_reopen loop_retry_raise loop_forget_vs_raise grant_concurrent forget_vs_checkin audit_chain_concurrent feed_two_loaders device_two_gateways area_count_concurrent
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=ltree --load-extension=pgcrypto --load-extension=sanse

PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare -Werror

# Debian's server-dev package ships pg_config here; fall back to PATH.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

DEB_PACKAGES = postgresql-15 postgresql-server-dev-15 postgresql-15-cron \
               postgresql-15-pgaudit postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl make gcc \
               python3 python3-psycopg2 python3-pandas python3-sqlalchemy
# the screen page (make demo) and its test: Debian's Chromium, a CJK font for it
DEB_PACKAGES += chromium fonts-wqy-microhei
# make deb (test/deb.sh): Debian's tooling for PostgreSQL extensions (pg_buildext,
# dh --with pgxs_loop) and lintian; make dist: git
DEB_PACKAGES += postgresql-server-dev-all debhelper dpkg-dev fakeroot lintian git

# No JIT bitcode: nothing here is worth inlining into JIT-compiled plans.
override with_llvm = no

# PGXS is only there once postgresql-server-dev-15 is; `make deps` gets it.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "PGXS not found: run 'make deps' (or 'make test') first" >&2; exit 1
endif

# PGXS knows no header dependencies: any header change rebuilds every object.
$(OBJS): $(wildcard src/*.h)

.PHONY: deps test demo bench city-demo

# Install missing Debian packages; no network when everything is present.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@# test/clients.sh drives node-postgres 8: Debian's nodejs and npm only when
	@# there is no node (or no npm) at all, pg into test/clients/node_modules.
	@if ! command -v node >/dev/null 2>&1; then \
	  echo "installing: nodejs npm"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	elif ! command -v npm >/dev/null 2>&1; then \
	  echo "installing: npm"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; \
	fi
	@if [ ! -f test/clients/node_modules/pg/package.json ]; then \
	  echo "installing: pg@8 (npm) into test/clients"; \
	  npm install --prefix test/clients --no-audit --no-fund --no-package-lock --loglevel=error; \
	fi
	@# the screen page draws with ECharts; test/screen.sh drives Chromium with puppeteer-core
	@if [ ! -f test/screen/node_modules/echarts/package.json ] || [ ! -f test/screen/node_modules/puppeteer-core/package.json ]; then \
	  echo "installing: echarts, puppeteer-core (npm) into test/screen"; \
	  npm install --prefix test/screen --no-audit --no-fund --no-package-lock --loglevel=error; \
	fi

# Each step is a sub-make so PGXS is read after deps installed it.
test: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory install
	@summary=$$(mktemp); \
	SANSE_SUMMARY=$$summary pg_virtualenv -t -o 'shared_preload_libraries=pg_cron,pgaudit' \
	  -o 'cron.database_name=contrib_regression' -o 'cron.use_background_workers=on' \
	  sh test/run_all.sh "$(MAKE)"; rc=$$?; \
	cat $$summary; rm -f $$summary; exit $$rc

demo: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory install
	sh test/demo/run_demo.sh

bench: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory install
	sh test/bench/run_bench.sh

# Three districts, the city database reading them, the city screen; then one
# district stopped (doc/city.md).  Throw-away clusters, removed at the end.
city-demo: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory install
	sh test/city/run_city_demo.sh

sanse--$(EXTVERSION).sql: $(SQL_SOURCES) sanse.control src/vocabulary.h
	@test -n "$(FREE_TEXT_MAX)" || { echo "SANSE_FREE_TEXT_MAX not found in src/vocabulary.h" >&2; exit 1; }
	{ echo '-- sanse $(EXTVERSION): three-colour household assistance (三色入户帮)'; \
	  echo '-- Generated from src/sql/*.sql by make; edit those files, not this one.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION sanse" to load this file. \quit'; \
	  for f in $(SQL_SOURCES); do echo; echo "-- $$f"; $(SQL_LIMITS) $$f; done; } >$@

sanse--$(UPDATE_FROM)--$(EXTVERSION).sql: $(UPDATE_SOURCES) $(SQL_SOURCES) src/updates/replaceable.pl sanse.control src/vocabulary.h
	@test -n "$(FREE_TEXT_MAX)" || { echo "SANSE_FREE_TEXT_MAX not found in src/vocabulary.h" >&2; exit 1; }
	{ echo '-- sanse $(UPDATE_FROM) -> $(EXTVERSION)'; \
	  echo '-- Generated by make from src/updates/$(UPDATE_FROM)--$(EXTVERSION)/*.sql, then every'; \
	  echo '-- function and view of src/sql/*.sql; edit those files, not this one.'; \
	  printf '%s\n' '\echo Use "ALTER EXTENSION sanse UPDATE TO '"'"'$(EXTVERSION)'"'"'" to load this file. \quit'; \
	  for f in $(UPDATE_SOURCES); do echo; echo "-- $$f"; $(SQL_LIMITS) $$f; done; \
	  echo; echo '-- Every function and view of src/sql/*.sql, as a fresh install has them.'; \
	  perl src/updates/replaceable.pl $(SQL_SOURCES); } >$@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

EXTRA_CLEAN = results regression.diffs regression.out output_iso test/results

.PHONY: deb dist
EXTRA_CLEAN += build

# Releases.  The release's version is META.json's (1.4.0 for sanse.control's
# 1.4; test/meta.sh checks that they and debian/changelog agree).
DISTVERSION = $(shell python3 -c 'import json; print(json.load(open("META.json"))["version"])')

# make dist: the PGXN release, build/sanse-X.Y.Z.zip with one top directory
# sanse-X.Y.Z/, made by git archive from the committed tree (HEAD), so it holds
# what is tracked and nothing generated.
dist:
	@mkdir -p build
	@git diff --quiet HEAD -- 2>/dev/null || echo "make dist: uncommitted changes are not in the archive (it is made from HEAD)" >&2
	git archive --format=zip --prefix=$(EXTENSION)-$(DISTVERSION)/ -o build/$(EXTENSION)-$(DISTVERSION).zip HEAD
	@echo "build/$(EXTENSION)-$(DISTVERSION).zip"

# make deb: the Debian package postgresql-15-sanse, built by dpkg-buildpackage
# (debian/rules: dh --with pgxs_loop, i.e. pg_buildext) from a copy of this
# tree as it is (tracked and untracked files, nothing git ignores), so the
# build neither cleans nor litters the work tree.  The .deb ends up in
# build/deb/.  DEB_BUILD_OPTIONS=nocheck skips the build-time installcheck;
# LINTIAN=no skips lintian (run when installed; its errors fail the build).
DEB_DIR = build/deb
LINTIAN ?= yes
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/$(EXTENSION)
	{ if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard; \
	  else find . -path ./build -prune -o -type f -print0; fi; } | \
	  tar --null -T - --ignore-failed-read -cf - | tar -xf - -C $(DEB_DIR)/$(EXTENSION)
	cd $(DEB_DIR)/$(EXTENSION) && dpkg-buildpackage -b -us -uc
	rm -rf $(DEB_DIR)/$(EXTENSION)
	@if [ "$(LINTIAN)" != no ] && command -v lintian >/dev/null 2>&1; then \
	  echo "lintian $(DEB_DIR)/*.changes"; lintian --fail-on error $(DEB_DIR)/*.changes; fi
	@ls $(DEB_DIR)/*.deb
