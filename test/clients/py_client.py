#!/usr/bin/python3
# psycopg2 (+ pandas, SQLAlchemy) as a new user would drive sanse: run by
# test/clients.sh with Debian's python3 (Debian's python3-psycopg2,
# python3-pandas and python3-sqlalchemy), against the database in PGDATABASE,
# connecting as the login roles named in SANSE_*_USER / SANSE_*_PASSWORD, which
# hold exactly the grants of the README's role recipe (hand grants for functions
# and the district's structure, grant rows of sanse.area_grant for people's
# rows).  The client builds its village SANSE_ROOT (a path under the town the
# recipe grants the supervisor, itself under the app's district); SANSE_OTHER_*
# name a district outside every grant of the recipe (built by test/clients.sh
# as a superuser), of which the app, the printer and BI must see nothing.
# Host and port come from the PG* environment (pg_virtualenv).  Prints TAP-like "ok - …" lines; exits 1
# on any failure.
#
#   py_client.py district      the whole walk: district, tokens, check-ins,
#                              overrides, screens, search_path, reflection
#   py_client.py search-path   after the README's "Clients" SQL block: the app
#                              login role compares tiers without any option
import os
import sys
import warnings

import psycopg2

ROOT = os.environ.get("SANSE_ROOT", "q.t1.py")   # this client's village path
OTHER_PATH = os.environ.get("SANSE_OTHER_PATH")   # a district no grant row of the recipe covers
OTHER_AREA = int(os.environ.get("SANSE_OTHER_AREA") or 0)
OTHER_RESIDENT = int(os.environ.get("SANSE_OTHER_RESIDENT") or 0)
failures = 0


def ok(label, cond, detail=""):
    global failures
    if cond:
        print(f"ok - psycopg2: {label}")
    else:
        failures += 1
        print(f"not ok - psycopg2: {label}" + (f" ({detail})" if detail else ""))
    sys.stdout.flush()


def eq(label, got, want):
    ok(label, got == want, f"got {got!r}, want {want!r}")


def role(name):
    return os.environ[f"SANSE_{name}_USER"], os.environ[f"SANSE_{name}_PASSWORD"]


def connect(name, **kw):
    user, password = role(name)
    c = psycopg2.connect(user=user, password=password, **kw)
    c.autocommit = True
    return c


def one(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def sqlstate(conn, sql, params=None):
    """The SQLSTATE the statement fails with, or 'no error'."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
        return "no error"
    except psycopg2.Error as e:
        return e.pgcode


def district():
    app = connect("APP")
    eq("app role has no sanse on its search_path",
       "sanse" in one(app, "SHOW search_path")[0], False)

    # --- the district, with bind parameters --------------------------------
    area = {}
    path = ""
    for kind in ("village", "total_grid", "general_grid", "micro_grid"):
        path = ROOT if not path else path + "." + kind[0] + "1"
        area[kind] = one(app, "INSERT INTO sanse.area (path, kind, name) VALUES (%s, %s, %s) RETURNING id",
                         (path, kind, kind.upper() + " of " + ROOT))[0]
    micro_path = path
    eq("app inserts four areas village > … > micro grid under its granted district (hand grant on sanse.area)",
       len(area), 4)

    forces = ("department_staff", "community_cadre", "grid_officer", "service_professional", "volunteer")
    worker = {}
    for f in forces:
        worker[f] = one(app, "INSERT INTO sanse.worker (name, force, area_id) VALUES (%s, %s, %s) RETURNING id",
                        (f"{f} of {ROOT}", f, area["micro_grid"]))[0]
    leader = one(app, "INSERT INTO sanse.worker (name, force, role, area_id) VALUES (%s, %s, %s, %s) RETURNING id",
                 ("leader of " + ROOT, "grid_officer", "micro_grid_leader", area["micro_grid"]))[0]
    eq("app inserts workers of the five forces and a micro grid leader", len(worker) + 1, 6)

    res = {}
    for name, factors, want in (("Wang", ["accident_risk", "lives_alone"], "red"),
                                ("Zhao", ["partial_care", "unstable_chronic"], "yellow"),
                                ("Sun", ["mobility_impaired"], "blue"),
                                ("Qian", [], None)):
        rid, tier, window = one(app, "INSERT INTO sanse.resident (area_id, name, factors) VALUES (%s, %s, %s) "
                                     "RETURNING id, tier, next_visit", (area["micro_grid"], f"{name} of {ROOT}", factors))
        res[name] = rid
        eq(f"resident with factors {factors} gets tier {want!r}" + (" (a Python str)" if want else " (not in the programme)"),
           tier, want)
        if want:
            ok(f"{name}'s next_visit comes back as a string", isinstance(window, str) and window.startswith("["),
               repr(window))
    ok("an unknown factor is refused with 22023",
       sqlstate(app, "INSERT INTO sanse.resident (area_id, name, factors) VALUES (%s, %s, %s)",
                (area["micro_grid"], "Nobody", ["flying"])) == "22023")

    # Wang: every force but the volunteer; Zhao: two carers
    for f in forces[:4]:
        app.cursor().execute("INSERT INTO sanse.carer (resident_id, worker_id) VALUES (%s, %s)", (res["Wang"], worker[f]))
    for f in forces[:2]:
        app.cursor().execute("INSERT INTO sanse.carer (resident_id, worker_id) VALUES (%s, %s)", (res["Zhao"], worker[f]))
    eq("a second carer of one force is refused with 23505",
       sqlstate(app, "INSERT INTO sanse.carer (resident_id, worker_id) VALUES (%s, %s)", (res["Wang"], leader)), "23505")

    # --- door tokens from the printer --------------------------------------
    printer = connect("PRINTER")
    eq("printer finds the resident by name (its column grant)",
       one(printer, "SELECT id FROM sanse.resident WHERE name = %s", (f"Wang of {ROOT}",))[0], res["Wang"])
    token = one(printer, "SELECT sanse.door_token(%s)", (res["Wang"],))[0]
    ok("printer gets a 43-character door token", isinstance(token, str) and len(token) == 43, repr(token))
    eq("door_token is the same on a second call", one(printer, "SELECT sanse.door_token(%s)", (res["Wang"],))[0], token)
    eq("printer (read) may not read factors (42501)", sqlstate(printer, "SELECT factors FROM sanse.resident"), "42501")
    eq("printer (read) may not read coordinates (42501)", sqlstate(printer, "SELECT lat, lon FROM sanse.resident"), "42501")
    eq("printer (read) may not write residents (42501)",
       sqlstate(printer, "UPDATE sanse.resident SET name = name WHERE id = %s", (res["Wang"],)), "42501")
    eq("printer gets no door token for a resident of another district (22023, 'does not exist')",
       sqlstate(printer, "SELECT sanse.door_token(%s)", (OTHER_RESIDENT,)), "22023")
    eq("app may not print door tokens (42501)", sqlstate(app, "SELECT sanse.door_token(%s)", (res["Wang"],)), "42501")
    token_zhao = one(printer, "SELECT sanse.door_token(%s)", (res["Zhao"],))[0]

    # --- check-in with the token as a query parameter ---------------------
    # (psycopg2 quotes parameters into the statement on the client side; the
    # SQL written by the app never contains the token.)
    at = one(app, "SELECT clock_timestamp()::text")[0]
    checkin = "SELECT sanse.check_in(%s, %s, %s, %s)"
    items = ["ask_health", "ask_diet", "check_gas"]
    visit = one(app, checkin, (token, worker["grid_officer"], at, items))[0]
    ok("check_in returns a visit id (int)", isinstance(visit, int) and visit > 0, repr(visit))
    eq("the same (token, worker, at) again returns the same visit id",
       one(app, checkin, (token, worker["grid_officer"], at, items))[0], visit)
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    eq("a forged token is refused with 28000", sqlstate(app, checkin, (forged, worker["grid_officer"], at, items)), "28000")
    eq("a malformed token is refused with 28000", sqlstate(app, checkin, ("not a token", worker["grid_officer"], at, items)), "28000")
    eq("a worker who is not a carer (the volunteer) is refused with 42501",
       sqlstate(app, checkin, (token, worker["volunteer"], at, items)), "42501")
    future = one(app, "SELECT (clock_timestamp() + interval '1 hour')::text")[0]
    eq("a check-in an hour in the future is refused with 22008",
       sqlstate(app, checkin, (token, worker["grid_officer"], future, items)), "22008")
    eq("an unknown checklist item is refused with 22023",
       sqlstate(app, checkin, (token, worker["grid_officer"], at, ["ask_health", "feed_cat"])), "22023")
    visit2 = one(app, "SELECT sanse.check_in(%s, %s)", (token_zhao, leader))[0]
    ok("the micro grid's leader checks in at Zhao's door with the defaults (at, checklist)",
       isinstance(visit2, int) and visit2 != visit, repr(visit2))
    ok("app sees last_visit_at move to the check-in",
       one(app, "SELECT last_visit_at = %s::timestamptz FROM sanse.resident WHERE id = %s", (at, res["Wang"]))[0])

    # --- overrides: tiers written as bound strings --------------------------
    upd = "UPDATE sanse.resident SET tier_override = {}, override_reason = %s WHERE id = %s RETURNING tier, tier_override"
    eq("tier_override bound as a plain string is accepted",
       one(app, upd.format("%s"), ("red", "lives alone since March", res["Sun"])), ("red", "red"))
    eq("tier_override bound as text (assignment cast text -> risk_tier) is accepted",
       one(app, upd.format("%s::text"), ("yellow", "family visits weekly", res["Sun"])), ("yellow", "yellow"))
    eq("tier_override bound as varchar (assignment cast varchar -> risk_tier) is accepted",
       one(app, upd.format("%s::varchar"), ("红色", "neighbour reported a fall", res["Sun"])), ("red", "red"))
    eq("a bad tier string is refused with 22P02",
       sqlstate(app, upd.format("%s::text"), ("green", "why not", res["Sun"])), "22P02")
    eq("an override without a reason is refused with 23502",
       sqlstate(app, "UPDATE sanse.resident SET tier_override = %s, override_reason = NULL WHERE id = %s",
                ("blue", res["Sun"])), "23502")
    eq("writing tier itself is refused with 42501",
       sqlstate(app, "UPDATE sanse.resident SET tier = %s WHERE id = %s", ("red", res["Qian"])), "42501")
    eq("clearing the override gives back the computed tier",
       one(app, "UPDATE sanse.resident SET tier_override = NULL, override_reason = NULL WHERE id = %s RETURNING tier",
           (res["Sun"],))[0], "blue")

    # --- tiers on the tables: search_path -----------------------------------
    eq("app without sanse on search_path: WHERE tier = 'red' on sanse.resident fails with 42883",
       sqlstate(app, "SELECT count(*) FROM sanse.resident WHERE tier = 'red'"), "42883")
    app_sp = connect("APP", dsn="options='-c search_path=public,sanse'")   # the README's connection string
    eq("app with options='-c search_path=public,sanse': WHERE tier = 'red' works",
       one(app_sp, "SELECT count(*) FROM sanse.resident WHERE tier = 'red' AND area_id = %s", (area["micro_grid"],))[0], 1)
    eq("… and WHERE tier = %s (bound) and IN ('red','yellow') work",
       one(app_sp, "SELECT count(*) FILTER (WHERE tier = %s), count(*) FILTER (WHERE tier IN ('red', 'yellow')) "
                   "FROM sanse.resident WHERE area_id = %s", ("yellow", area["micro_grid"])), (1, 2))

    # --- risk_tier[] ---------------------------------------------------------
    arr = one(app_sp, "SELECT array_agg(tier ORDER BY id) FROM sanse.resident WHERE area_id = %s AND tier IS NOT NULL",
              (area["micro_grid"],))[0]
    eq("a risk_tier[] comes back as the text {red,yellow,blue} (as from node-postgres)", arr, "{red,yellow,blue}")
    eq("risk_tier[]::text[] comes back as a Python list",
       one(app_sp, "SELECT array_agg(tier ORDER BY id)::text[] FROM sanse.resident WHERE area_id = %s AND tier IS NOT NULL",
           (area["micro_grid"],))[0], ["red", "yellow", "blue"])
    eq("a risk_tier[] bound as a Python list of strings is accepted",
       one(app_sp, "SELECT count(*) FROM sanse.resident WHERE area_id = %s AND tier = ANY (%s::risk_tier[])",
           (area["micro_grid"], ["red", "blue"]))[0], 2)

    # --- another district: no grant row, no row ------------------------------
    eq("app sees the other district's micro grid (sanse.area has no row-level security)",
       one(app, "SELECT count(*) FROM sanse.area WHERE id = %s", (OTHER_AREA,))[0], 1)
    eq(f"app sees no resident of another district ({OTHER_PATH}, not granted): by area",
       one(app, "SELECT count(*) FROM sanse.resident WHERE area_id = %s", (OTHER_AREA,))[0], 0)
    with app.cursor() as cur:
        cur.execute("SELECT id FROM sanse.resident WHERE id = %s", (OTHER_RESIDENT,))
        eq("app sees no resident of another district: by id", cur.rowcount, 0)
        cur.execute("UPDATE sanse.resident SET name = name WHERE id = %s", (OTHER_RESIDENT,))
        eq("app updates no resident of another district (0 rows)", cur.rowcount, 0)
    eq("app sees no resident outside its district at all",
       one(app, "SELECT count(*) FROM sanse.resident r JOIN sanse.area a ON a.id = r.area_id "
                "WHERE a.path::text NOT LIKE %s", (ROOT.split(".")[0] + ".%",))[0], 0)
    eq("app may not insert a resident in another district (42501, row-level security)",
       sqlstate(app, "INSERT INTO sanse.resident (area_id, name) VALUES (%s, %s)", (OTHER_AREA, "Intruder")), "42501")
    eq("app sees no visit or carer of another district",
       one(app, "SELECT (SELECT count(*) FROM sanse.visit WHERE area_id = %s), "
                "(SELECT count(*) FROM sanse.carer WHERE resident_id = %s)", (OTHER_AREA, OTHER_RESIDENT)), (0, 0))

    # --- the supervisor's screens: carer_gaps filtered on tier -------------
    sup = connect("SUPERVISOR")
    eq("supervisor has no sanse on its search_path", "sanse" in one(sup, "SHOW search_path")[0], False)
    with sup.cursor() as cur:
        cur.execute("SELECT resident_id, tier, missing_forces FROM sanse.carer_gaps WHERE tier = 'red' AND area_id = %s",
                    (area["micro_grid"],))
        rows = cur.fetchall()
        eq("carer_gaps.tier is text (type oid 25)", cur.description[1].type_code, 25)
    eq("supervisor: carer_gaps WHERE tier = 'red' without sanse on search_path",
       rows, [(res["Wang"], "red", ["volunteer"])])
    eq("supervisor: carer_gaps WHERE tier = %s (bound)",
       one(sup, "SELECT count(*) FROM sanse.carer_gaps WHERE tier = %s AND area_id = %s", ("yellow", area["micro_grid"]))[0], 1)
    eq("supervisor reads the check-in's visit",
       one(sup, "SELECT resident_id, worker_id FROM sanse.visit WHERE id = %s", (visit,)), (res["Wang"], worker["grid_officer"]))
    eq("supervisor (read on its town): coverage WHERE path = %s has the exact counts",
       one(sup, "SELECT kind, residents, red, yellow, blue, overdue_now, window_met FROM sanse.coverage WHERE path = %s",
           (ROOT,)), ("village", 3, 1, 1, 1, 0, 2))
    eq("supervisor: grid_daily_report WHERE path = %s counts both visits",
       one(sup, "SELECT sum(visits) FROM sanse.grid_daily_report WHERE path = %s", (micro_path,))[0], 2)
    eq("supervisor sees no visit of another district",
       one(sup, "SELECT count(*) FROM sanse.visit WHERE area_id = %s", (OTHER_AREA,))[0], 0)

    # --- the BI analyst: the screen views ------------------------------------
    # BI reads the screen as published: publish now (clients.sh grants it to the sweeper)
    publisher = connect("SWEEPER")
    one(publisher, "SELECT sanse.publish_screen()")
    publisher.close()
    bi = connect("BI")
    eq("BI role has no sanse on its search_path", "sanse" in one(bi, "SHOW search_path")[0], False)
    with bi.cursor() as cur:
        cur.execute("SELECT path, kind, residents, red, yellow, blue, overdue_now, window_met, coverage_rate "
                    "FROM sanse.coverage WHERE path = %s", (ROOT,))
        rows = cur.fetchall()
        eq("coverage.path is text (type oid 25)", cur.description[0].type_code, 25)
    eq("BI (aggregate only): coverage WHERE path = %s hides the small cells (1..4 are None, 0 stays 0), path a str",
       rows, [(ROOT, "village", None, None, None, None, 0, None, None)])
    eq("BI: coverage WHERE path LIKE %s gives every level, every resident count hidden",
       one(bi, "SELECT count(*), count(residents) FROM sanse.coverage WHERE path LIKE %s", (ROOT + "%",)), (4, 0))
    eq("BI: worker_checkin_rate reads",
       sqlstate(bi, "SELECT sum(visits) FROM sanse.worker_checkin_rate WHERE worker_id = %s", (worker["grid_officer"],)),
       "no error")
    eq("BI: grid_daily_report WHERE path = %s hides the two visits (None)",
       one(bi, "SELECT sum(visits) FROM sanse.grid_daily_report WHERE path = %s", (micro_path,))[0], None)
    eq("BI: coverage_by_tier WHERE tier = 'red' has the client's village, hidden (1 red resident)",
       one(bi, "SELECT count(*), count(residents) FROM sanse.coverage_by_tier WHERE tier = 'red' AND path = %s", (ROOT,)),
       (1, 0))
    bi_root = ROOT.split(".")[0]
    eq(f"BI: coverage_by_tier WHERE tier = 'red' shows no row outside its grant ({bi_root})",
       one(bi, "SELECT count(*) FROM sanse.coverage_by_tier WHERE tier = 'red' AND path <> %s AND path NOT LIKE %s",
           (bi_root, bi_root + ".%"))[0], 0)
    eq(f"BI: coverage shows nothing of another district ({OTHER_PATH})",
       one(bi, "SELECT count(*) FROM sanse.coverage WHERE path = %s OR path LIKE %s", (OTHER_PATH, OTHER_PATH + ".%"))[0], 0)
    eq("BI: overdue_events reads (none opened here)",
       one(bi, "SELECT count(*) FROM sanse.overdue_events WHERE path = %s", (ROOT,))[0], 0)
    # the README: "a BI analyst: the screen views only (paths and tiers in them
    # are text)", "WHERE tier = 'red' works without any of this"
    with bi.cursor() as cur:
        cur.execute("SELECT c.table_name FROM information_schema.columns c JOIN information_schema.views v "
                    "USING (table_schema, table_name) WHERE c.table_schema = 'sanse' AND c.column_name = 'tier' "
                    "AND has_table_privilege(format('%I.%I', c.table_schema, c.table_name), 'SELECT') ORDER BY 1")
        tiered = [r[0] for r in cur.fetchall()]
    ok("BI: a view the recipe grants to sanse_bi has a tier column to filter on (README: tiers in them are text)",
       tiered, "the BI role can read no relation with a tier column")
    for v in tiered:
        eq(f"BI: sanse.{v} WHERE tier = 'red' without sanse on search_path",
           sqlstate(bi, f"SELECT count(*) FROM sanse.{v} WHERE tier = 'red'"), "no error")
    eq("BI may not read sanse.resident (42501)", sqlstate(bi, "SELECT count(*) FROM sanse.resident"), "42501")
    eq("check_in is for everyone: the BI role's forged token gets 28000, not 42501 for the schema",
       sqlstate(bi, checkin, (forged, worker["grid_officer"], at, items)), "28000")

    # --- the sweep operator --------------------------------------------------
    sweeper = connect("SWEEPER")
    eq("sweep operator runs sanse.sweep()", one(sweeper, "SELECT skipped FROM sanse.sweep()")[0], False)
    eq("app may not run sanse.sweep() (42501)", sqlstate(app, "SELECT * FROM sanse.sweep()"), "42501")

    # --- pandas and SQLAlchemy, as a BI tool -------------------------------
    import pandas as pd
    import sqlalchemy as sa
    from sqlalchemy.types import NullType

    def engine(name):
        return sa.create_engine("postgresql+psycopg2://", creator=lambda: connect(name))

    bi_engine = engine("BI")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cols = {c["name"]: c["type"] for c in sa.inspect(bi_engine).get_columns("coverage", schema="sanse")}
    print(f"# SQLAlchemy reflects sanse.coverage as {', '.join(f'{k} {v!r}' for k, v in cols.items())}")
    ok("SQLAlchemy reflection of sanse.coverage sees path as a known type (TEXT)",
       isinstance(cols.get("path"), sa.types.TEXT), repr(cols.get("path")))
    ok("SQLAlchemy reflection of sanse.coverage: no column of unknown type",
       not any(isinstance(t, NullType) for t in cols.values()) and not caught,
       "; ".join(str(w.message) for w in caught))
    app_engine = engine("APP")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        rcols = {c["name"]: c["type"] for c in sa.inspect(app_engine).get_columns("resident", schema="sanse")}
    print("# SQLAlchemy reflects the table sanse.resident's tier as %r, next_visit as %r (only the views promise text)"
          % (rcols.get("tier"), rcols.get("next_visit")))
    app_engine.dispose()
    sup_engine = engine("SUPERVISOR")
    gaps = {c["name"]: c["type"] for c in sa.inspect(sup_engine).get_columns("carer_gaps", schema="sanse")}
    ok("SQLAlchemy reflection of sanse.carer_gaps sees tier as TEXT", isinstance(gaps.get("tier"), sa.types.TEXT),
       repr(gaps.get("tier")))
    with bi_engine.connect() as conn:
        df = pd.read_sql_query(sa.text("SELECT path, kind, red, coverage_rate FROM sanse.coverage "
                                       "WHERE path = :p OR path LIKE :sub ORDER BY path"),
                               conn, params={"p": ROOT, "sub": ROOT + ".%"})
    eq("pandas reads coverage WHERE path = :p (four rows, path strings, the hidden red counts NaN)",
       (len(df), [type(p).__name__ for p in df["path"]][:1], bool(df["red"].isna().all())), (4, ["str"], True))
    with sup_engine.connect() as conn:
        df = pd.read_sql_query(sa.text("SELECT * FROM sanse.carer_gaps WHERE tier = :t AND area_id = :a"), conn,
                               params={"t": "red", "a": area["micro_grid"]})
    eq("pandas reads carer_gaps WHERE tier = :t, tier a string column",
       (list(df["tier"]), list(df["resident_id"])), (["red"], [res["Wang"]]))
    bi_engine.dispose()
    sup_engine.dispose()
    for c in (app, app_sp, printer, sup, bi, sweeper):
        c.close()


def search_path_block():
    # a new session, no options: only what the README's Clients SQL set applies
    app = connect("APP")
    sp = one(app, "SHOW search_path")[0]
    st = sqlstate(app, "SELECT count(*) FROM sanse.resident WHERE tier = 'red'")
    eq(f"after the README's Clients SQL, the app login role {os.environ['SANSE_APP_USER']} (member of sanse_app) compares tiers without options "
       f"(search_path is {sp})", st, "no error")
    app.close()


if __name__ == "__main__":
    phase = sys.argv[1] if len(sys.argv) > 1 else "district"
    try:
        {"district": district, "search-path": search_path_block}[phase]()
    except Exception as e:  # an unexpected error is a failure, never a skip
        import traceback
        traceback.print_exc()
        ok(f"{phase} ran to the end", False, f"{type(e).__name__}: {e}")
    sys.exit(1 if failures else 0)
