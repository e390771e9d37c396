#!/usr/bin/env python3
"""Checks, against a live Prometheus, that every shipped recording rule produces series and that
every shipped rule (recording and alerting) is loaded and healthy.

    recording_queries.py http://127.0.0.1:9091 [--wait 60] [--allow-empty REGEX]

For each `record:` of the rule files it queries the recorded series name and reports `OK` (n
series), `EMPTY` or `ERROR`; then it reads /api/v1/rules and reports rules that are missing, or
whose health is not "ok" (with Prometheus' lastError). Exit status: 0 all good, 1 a rule is empty,
missing or unhealthy, 2 Prometheus cannot be reached. With --wait, empty rules are retried until
they have data or the time is up (a rule needs an evaluation after its inputs were scraped).
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

import yaml

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[2] / "configs/prometheus"
DEFAULT_RULE_FILES = [CONFIG_DIR / "dwcp-recording-rules.yml", CONFIG_DIR / "dwcp-alerts.yml"]


class Unreachable(Exception):
    pass


def get_json(base_url, path, params, timeout):
    url = base_url.rstrip("/") + path
    data = urllib.parse.urlencode(params).encode() if params else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}
    except (urllib.error.URLError, OSError) as e:
        raise Unreachable(f"cannot reach {base_url}: {e}") from e


def count_series(base_url, expr, timeout):
    body = get_json(base_url, "/api/v1/query", {"query": expr}, timeout)
    if body.get("status") != "success":
        return 0, f"{body.get('errorType', 'error')}: {body.get('error', 'unknown error')}"
    return len(body["data"]["result"]), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("prometheus", help="Prometheus base URL, e.g. http://127.0.0.1:9091")
    parser.add_argument("--rules", type=pathlib.Path, action="append",
                        help="rule file (repeatable; default: the shipped recording and alert rules)")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per HTTP request (default 10)")
    parser.add_argument("--wait", type=float, default=0, help="retry empty rules for up to this many seconds")
    parser.add_argument("--allow-empty", action="append", default=[], metavar="REGEX",
                        help="recording rules that may be empty (repeatable)")
    args = parser.parse_args()

    records, alerts = [], []
    for path in args.rules or DEFAULT_RULE_FILES:
        with open(path) as f:
            for group in yaml.safe_load(f)["groups"]:
                for rule in group["rules"]:
                    (records if "record" in rule else alerts).append(rule.get("record") or rule.get("alert"))
    allowed = [re.compile(r) for r in args.allow_empty]

    deadline = time.monotonic() + args.wait
    results = {}
    pending = list(records)
    try:
        while True:
            still_empty = []
            for name in pending:
                results[name] = count_series(args.prometheus, name, args.timeout)
                if results[name] == (0, None):
                    still_empty.append(name)
            if not still_empty or time.monotonic() >= deadline:
                break
            pending = still_empty
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        loaded = get_json(args.prometheus, "/api/v1/rules", None, args.timeout)
    except Unreachable as e:
        print(f"ERROR {e}")
        return 2

    failed = passed = tolerated = 0
    for name in records:
        count, error = results[name]
        if error:
            print(f"ERROR  {name}: {error}")
            failed += 1
        elif count == 0:
            if any(r.search(name) for r in allowed):
                print(f"EMPTY (allowed) {name}")
                tolerated += 1
            else:
                print(f"EMPTY  {name}: no series (inputs missing, or not evaluated yet)")
                failed += 1
        else:
            print(f"OK     {name}: {count} series")
            passed += 1

    if loaded.get("status") != "success":
        print(f"ERROR  /api/v1/rules: {loaded.get('error')}")
        failed += 1
    else:
        seen = {}
        for group in loaded["data"]["groups"]:
            for rule in group["rules"]:
                seen[rule["name"]] = rule
        for name in records + alerts:
            rule = seen.get(name)
            if rule is None:
                print(f"MISSING {name}: not loaded by Prometheus (rule_files?)")
                failed += 1
            elif rule.get("health") != "ok":
                print(f"UNHEALTHY {name}: health={rule.get('health')} {rule.get('lastError', '')}")
                failed += 1
        firing = sorted(n for n, r in seen.items() if r.get("type") == "alerting" and r.get("state") == "firing")
        print(f"loaded: {sum(1 for r in seen.values() if r.get('type') == 'recording')} recording, "
              f"{sum(1 for r in seen.values() if r.get('type') == 'alerting')} alerting rules; "
              f"firing: {', '.join(firing) or 'none'}")
    print(f"recording rules: {passed} passed, {failed} failed, {tolerated} allowed empty")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
