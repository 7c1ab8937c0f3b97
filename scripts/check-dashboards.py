#!/usr/bin/env python3
"""Static checks of the Grafana dashboards in grafana/dashboards/.

For each dashboard JSON file:
  * it parses, and has a uid and a title;
  * every `datasource` reference names one of otel-lgtm's provisioned
    datasources (uids `prometheus`, `tempo`, `loki`) or a variable;
  * every Prometheus target's PromQL parses: the expressions, with Grafana's
    variables replaced by values PromQL accepts, go into a generated rules
    file that `promtool check rules` must accept.

Usage: check-dashboards.py PROMTOOL DASHBOARD.json...
Exit 0 when every check passes.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

KNOWN_UIDS = {"prometheus", "tempo", "loki"}
GRAFANA_BUILTIN = {"-- Grafana --", "grafana", "-- Mixed --", "-- Dashboard --"}


def is_variable(value):
    return isinstance(value, str) and value.startswith("$")


def datasource_uid(ds):
    """The uid of a datasource reference (object or legacy string)."""
    if isinstance(ds, dict):
        return ds.get("uid")
    return ds


def substitute(expr):
    """Replaces Grafana variables by values PromQL parses.

    Range selectors ([$__rate_interval], [$var]) become [5m]; a variable
    inside a quoted label value becomes `x`; any other variable becomes 1.
    """
    expr = re.sub(r"\[\$\{?\w+(:\w+)?\}?\]", "[5m]", expr)
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)

    def in_quotes(match):
        return re.sub(r"\$\{?\w+(:\w+)?\}?", "x", match.group(0))

    expr = re.sub(r'"(?:[^"\\]|\\.)*"', in_quotes, expr)
    return re.sub(r"\$\{?\w+(:\w+)?\}?", "1", expr)


def walk(node, path, found):
    """Collects (path, datasource) for every `datasource` key."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                found.append((f"{path}.datasource", value))
            walk(value, f"{path}.{key}", found)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            walk(item, f"{path}[{i}]", found)


def panels(dashboard):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def check(path, problems, exprs):
    try:
        dashboard = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        problems.append(f"{path}: does not parse: {e}")
        return
    for key in ("uid", "title"):
        if not dashboard.get(key):
            problems.append(f"{path}: no {key}")

    refs = []
    walk(dashboard, "$", refs)
    for where, ds in refs:
        uid = datasource_uid(ds)
        if uid is None and isinstance(ds, dict) and is_variable(ds.get("type")):
            continue
        if uid in KNOWN_UIDS or is_variable(uid) or uid in GRAFANA_BUILTIN:
            continue
        problems.append(f"{path}: {where}: unknown datasource {ds!r}")

    for panel in panels(dashboard):
        panel_ds = panel.get("datasource")
        for target in panel.get("targets", []):
            ds = target.get("datasource", panel_ds)
            uid = datasource_uid(ds)
            kind = ds.get("type") if isinstance(ds, dict) else None
            if uid != "prometheus" and kind != "prometheus":
                continue  # Tempo (TraceQL), Loki (LogQL): not PromQL
            expr = target.get("expr", "")
            if not expr.strip():
                problems.append(f"{path}: panel {panel.get('title')!r} target {target.get('refId')}: empty expr")
                continue
            exprs.append((f"{path}: panel {panel.get('title')!r} target {target.get('refId')}", substitute(expr)))

    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        # label_values(metric, label) is Grafana's, not PromQL: check its selector.
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", query or "")
        if m:
            exprs.append((f"{path}: variable {var.get('name')}", substitute(m.group(1))))


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    promtool, files = sys.argv[1], sys.argv[2:]
    problems, exprs = [], []
    for path in files:
        check(path, problems, exprs)

    if exprs:
        rules = {"groups": [{"name": "dashboard_expressions", "rules": [
            {"record": f"dashboard:expr{i}", "expr": expr} for i, (_, expr) in enumerate(exprs)
        ]}]}
        with tempfile.TemporaryDirectory() as tmp:
            rules_file = Path(tmp) / "dashboard-rules.yml"
            # JSON is YAML: no YAML library needed.
            rules_file.write_text(json.dumps(rules, indent=1), encoding="utf-8")
            result = subprocess.run([promtool, "check", "rules", str(rules_file)],
                                    capture_output=True, text=True)
            if result.returncode != 0:
                out = result.stdout + result.stderr
                # Name the panel behind each failing generated rule.
                for i, (where, expr) in enumerate(exprs):
                    if f"dashboard:expr{i}\"" in out or f"expr{i}:" in out:
                        problems.append(f"{where}: {expr}")
                problems.append("promtool check rules failed:\n" + out.strip())

    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok -- {len(files)} dashboard(s), {len(exprs)} PromQL expression(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
