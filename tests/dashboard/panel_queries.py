#!/usr/bin/env python3
"""Runs every panel query of the Grafana dashboard against a live Prometheus and reports the
panels whose queries return nothing.

    panel_queries.py http://127.0.0.1:9091 [--var cluster=c1] [--wait 60] [--allow-empty REGEX]

Template variables are substituted the way Grafana would with "All" selected: $cluster, $node,
$instance, $job (and ${x}, ${x:regex}, [[x]]) become `.*` — every dashboard matcher on them is a
regex matcher (=~) — unless --var NAME=VALUE gives a value (used verbatim, so it may be a regex).
$__rate_interval, $__interval, $__range and their _s/_ms forms come from --rate-interval,
--interval and --range. The template variables' own label_values() queries are checked too.

Output: one line per query, `OK`, `EMPTY` or `ERROR`, then a summary line. Exit status: 0 when
every query returned at least one series (or matched --allow-empty), 1 otherwise, 2 when
Prometheus cannot be reached at all. With --wait, empty queries are retried until they return
data or the time is up (rules need an evaluation or two after Prometheus starts).
"""
import argparse
import json
import pathlib
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_DASHBOARD = pathlib.Path(__file__).resolve().parents[2] / "dashboards/dwcp-observer.json"


class Unreachable(Exception):
    pass


def parse_duration_s(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 1m, 6h")
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def instant_query(base_url, expr, timeout):
    """Returns (series count, error message or None). Raises Unreachable on connection errors."""
    data = urllib.parse.urlencode({"query": expr}).encode()
    request = urllib.request.Request(base_url.rstrip("/") + "/api/v1/query", data=data,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
    except urllib.error.HTTPError as e:  # 400/422: bad query; the body says why
        try:
            body = json.load(e)
        except ValueError:
            return 0, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        raise Unreachable(f"cannot reach {base_url}: {e}") from e
    if body.get("status") != "success":
        return 0, f"{body.get('errorType', 'error')}: {body.get('error', 'unknown error')}"
    result = body["data"]["result"]
    if body["data"]["resultType"] in ("scalar", "string"):
        return 1, None
    return len(result), None


def substitute(expr, values, rate_interval, interval, range_s):
    builtins = {
        "__rate_interval": f"{int(rate_interval)}s", "__interval": f"{int(interval)}s",
        "__interval_ms": str(int(interval * 1000)), "__range": f"{int(range_s)}s",
        "__range_s": str(int(range_s)), "__range_ms": str(int(range_s * 1000)),
    }

    def value(name):
        if name in builtins:
            return builtins[name]
        return values.get(name, ".*")

    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", lambda m: value(m.group(1)), expr)
    expr = re.sub(r"\[\[(\w+)(?::\w+)?\]\]", lambda m: value(m.group(1)), expr)
    return re.sub(r"\$(\w+)", lambda m: value(m.group(1)), expr)


def collect_queries(dashboard, values, args):
    """(label, promql) for every variable query and every panel target."""
    queries = []
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        m = re.fullmatch(r"\s*label_values\((.+),\s*(\w+)\)\s*", query or "")
        if m:  # label_values(selector, label): the selector must return series carrying the label
            selector = substitute(m.group(1), values, args.rate_interval, args.interval, args.range)
            queries.append((f"variable ${var['name']}", f"count by ({m.group(2)}) ({selector})"))
    row = "(no row)"
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            row = panel.get("title", "")
            inner = panel.get("panels", [])
        else:
            inner = [panel]
        for p in inner:
            for target in p.get("targets", []):
                if target.get("hide") or not target.get("expr"):
                    continue
                label = f"[{row}] {p.get('title', '?')} / {target.get('refId', '?')}"
                queries.append((label, substitute(target["expr"], values, args.rate_interval, args.interval, args.range)))
    return queries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9091")
    parser.add_argument("--dashboard", type=pathlib.Path, default=DEFAULT_DASHBOARD)
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="value of a template variable (default .*)")
    parser.add_argument("--rate-interval", type=parse_duration_s, default=60, metavar="DURATION",
                        help="value of $__rate_interval (default 1m)")
    parser.add_argument("--interval", type=parse_duration_s, default=15, metavar="DURATION",
                        help="value of $__interval (default 15s)")
    parser.add_argument("--range", type=parse_duration_s, default=3600, metavar="DURATION",
                        help="value of $__range (default 1h)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per HTTP request (default 10)")
    parser.add_argument("--wait", type=float, default=0, help="retry empty queries for up to this many seconds")
    parser.add_argument("--allow-empty", action="append", default=[], metavar="REGEX",
                        help="panels (\"[Row] Title / refId\") that may be empty (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="print each query as sent")
    args = parser.parse_args()

    values = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--var {item!r}: want NAME=VALUE")
        values[name.lstrip("$")] = value
    dashboard = json.loads(args.dashboard.read_text())
    queries = collect_queries(dashboard, values, args)
    allowed = [re.compile(r) for r in args.allow_empty]

    deadline = time.monotonic() + args.wait
    results = {}
    pending = list(queries)
    try:
        while True:
            still_empty = []
            for label, expr in pending:
                count, error = instant_query(args.prometheus, expr, args.timeout)
                results[label] = (expr, count, error)
                if count == 0 and not error:
                    still_empty.append((label, expr))
            if not still_empty or time.monotonic() >= deadline:
                break
            pending = still_empty
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    except Unreachable as e:
        print(f"ERROR {e}")
        return 2

    failed = passed = tolerated = 0
    for label, expr in queries:
        expr, count, error = results[label]
        if error:
            status, failed = "ERROR", failed + 1
            detail = error
        elif count == 0:
            if any(r.search(label) for r in allowed):
                status, tolerated = "EMPTY (allowed)", tolerated + 1
            else:
                status, failed = "EMPTY", failed + 1
            detail = "no series"
        else:
            status, passed = "OK", passed + 1
            detail = f"{count} series"
        print(f"{status:<6} {label}: {detail}")
        if args.verbose or status != "OK":
            print(f"         {expr}")
    print(f"panel queries: {passed} passed, {failed} failed, {tolerated} allowed empty")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
