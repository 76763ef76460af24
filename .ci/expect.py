#!/usr/bin/env python3
"""Checks for the container scenarios (.ci/container-scenarios): what the action wrote to GITHUB_OUTPUT and
what the simulator recorded (`dune-sim --record`). Standard library only (runs on GitHub's runners too).

  expect.py outputs FILE NAME=VALUE... [--json NAME=VALUE]... [--nonempty NAME]...
  expect.py record FILE --pipelines N [--cancelled-min N]
  expect.py value FILE NAME          (prints one value of a GITHUB_OUTPUT or GITHUB_STATE file)
"""

import argparse
import json
import sys


def fail(message):
    print(f"expect: {message}", file=sys.stderr)
    sys.exit(1)


def parse_outputs(text):
    """GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` heredocs (the runner's rules)."""
    outputs, lines, i = {}, text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            body = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i == len(lines):
                fail(f"output {name!r}: no closing delimiter")
            i += 1
            outputs[name] = "\n".join(body)
        elif eq != -1:
            outputs[line[:eq]] = line[eq + 1 :]
        else:
            fail(f"unparsable output line {line!r}")
    return outputs


def pair(text):
    name, sep, value = text.partition("=")
    if not sep:
        fail(f"expected NAME=VALUE, got {text!r}")
    return name, value


def check_outputs(args):
    with open(args.file, encoding="utf-8") as f:
        outputs = parse_outputs(f.read())
    print(f"outputs: {sorted(outputs)}")
    for name, want in map(pair, args.equals):
        if outputs.get(name) != want:
            fail(f"output {name} = {outputs.get(name)!r}, expected {want!r}")
    for name, want in map(pair, args.json):
        try:
            got = json.loads(outputs.get(name, ""))
        except json.JSONDecodeError as e:
            fail(f"output {name} is not JSON ({e}): {outputs.get(name)!r}")
        if got != json.loads(want):
            fail(f"output {name} = {got!r}, expected {want}")
    for name in args.nonempty:
        if not outputs.get(name):
            fail(f"output {name} is missing or empty")
    for value in map(pair, args.node_statuses):
        name, want = value
        nodes = json.loads(outputs.get(name, "[]"))
        got = ",".join(str(n.get("status")) for n in nodes)
        if got != want:
            fail(f"statuses of {name} = {got!r}, expected {want!r}")


def check_record(args):
    with open(args.file, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    requests = [r for r in lines if r.get("type") == "request"]
    summaries = [r for r in lines if r.get("type") == "summary"]
    if len(summaries) != 1:
        fail(f"{args.file}: expected one summary line, got {len(summaries)}")
    summary = summaries[0]
    for r in requests:
        print(f"  sim: {r['method']} {r['path']} -> {r['status']} at {r['at_ms']} ms")
    if not all(r["api_key_ok"] for r in requests):
        fail("a request reached the simulator without the API key")
    if summary["pipelines_started"] != args.pipelines:
        fail(f"pipelines started: {summary['pipelines_started']}, expected {args.pipelines}")
    cancels = [r for r in requests if r["method"] == "POST" and r["path"].endswith("/cancel")]
    cancelled = summary["cancelled_executions"]
    if args.cancelled_min == 0 and (cancels or cancelled):
        fail(f"unexpected cancel requests: {[r['path'] for r in cancels]}")
    if len(cancelled) < args.cancelled_min:
        fail(f"executions cancelled: {cancelled}, expected at least {args.cancelled_min}")
    print(f"record ok: {len(requests)} requests, cancelled executions {cancelled}")


def print_value(args):
    with open(args.file, encoding="utf-8") as f:
        values = parse_outputs(f.read())
    if args.name not in values:
        fail(f"no {args.name!r} in {args.file}")
    print(values[args.name])


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    o = sub.add_parser("outputs")
    o.add_argument("file")
    o.add_argument("equals", nargs="*", help="NAME=VALUE: the output's exact value")
    o.add_argument("--json", action="append", default=[], help="NAME=JSON: the output parsed as JSON")
    o.add_argument("--nonempty", action="append", default=[], help="NAME: present and not empty")
    o.add_argument(
        "--node-statuses", action="append", default=[], help="NAME=s1,s2: the nodes' statuses, in order"
    )
    r = sub.add_parser("record")
    r.add_argument("file")
    r.add_argument("--pipelines", type=int, required=True)
    r.add_argument("--cancelled-min", type=int, default=0)
    v = sub.add_parser("value")
    v.add_argument("file")
    v.add_argument("name")
    args = parser.parse_args()
    {"outputs": check_outputs, "record": check_record, "value": print_value}[args.what](args)


if __name__ == "__main__":
    main()
