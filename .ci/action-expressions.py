#!/usr/bin/env python3
"""Fails when action.yml holds `${{` where GitHub's runner does not evaluate expressions.

The runner evaluates an action's metadata when it loads it: an expression in a description (or a name, an
output's description, the branding, ...) is refused ("Unrecognized named-value: 'secrets'", or in nektos/act
"expressions are not allowed here") and the action fails to load for every user, before any step runs.
actionlint does not see it. Expressions are allowed only in an input's `default:` and under `runs:`.

Usage: action-expressions.py [action.yml ...]   (exit 1 with one line per finding, 0 when clean)
Needs ruamel.yaml (check-jsonschema, installed by .ci/lint, brings it).
"""

import sys

from ruamel.yaml import YAML


def allowed(path):
    """Whether an expression may stand at this key path of action.yml."""
    if path and path[0] == "runs":
        return True
    # inputs.<id>.default
    return len(path) == 3 and path[0] == "inputs" and path[2] == "default"


def walk(node, path, findings):
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and "${{" in value and not allowed(path + [key]):
                line = node.lc.key(key)[0] + 1
                findings.append((line, ".".join(map(str, path + [key]))))
            walk(value, path + [key], findings)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str) and "${{" in value and not allowed(path + [i]):
                findings.append((node.lc.item(i)[0] + 1, ".".join(map(str, path + [i]))))
            walk(value, path + [i], findings)


def check(file):
    with open(file, encoding="utf-8") as f:
        text = f.read()
    findings = []
    walk(YAML(typ="rt").load(text), [], findings)
    # A key holding `${{` is an error too (the runner reads keys as literals; nothing else may hide one).
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.split("#", 1)[0]
        if "${{" in stripped.split(":", 1)[0]:
            findings.append((number, "a key"))
    return findings


def main(argv):
    files = argv[1:] or ["action.yml"]
    bad = 0
    for file in files:
        for line, where in sorted(set(check(file))):
            print(
                f"{file}:{line}: `${{{{` in {where}: GitHub's runner evaluates expressions only in an input's "
                "`default:` and under `runs:`; anywhere else the action fails to load. Write it as plain text.",
            )
            bad += 1
    if bad:
        return 1
    print(f"no expressions outside `inputs.*.default` and `runs:` in {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
