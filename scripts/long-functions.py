#!/usr/bin/env python3
"""Lists functions under src/ longer than a limit (default 80 lines).

A function runs from its `fn` line to the closing brace at the same
indentation; doc comments and attributes above it do not count.
Usage: scripts/long-functions.py [limit] [dir]
"""
import pathlib
import re
import sys

limit = int(sys.argv[1]) if len(sys.argv) > 1 else 80
root = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "src")
fn_re = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")
found = []
for path in sorted(root.rglob("*.rs")):
    lines = path.read_text().split("\n")
    for i, line in enumerate(lines):
        m = fn_re.match(line)
        if not m:
            continue
        indent = m.group(1)
        # A declaration without a body (trait method) ends with `;` before any `{`.
        j = i
        while j < len(lines) and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
            j += 1
        if j >= len(lines) or "{" not in lines[j]:
            continue
        if lines[j].rstrip().endswith("}") and lines[j].count("{") == lines[j].count("}"):
            continue  # one-line body
        for k in range(j + 1, len(lines)):
            if lines[k].startswith(indent + "}") and not lines[k].startswith(indent + "} else"):
                n = k - i + 1
                if n > limit:
                    found.append((n, f"{path}:{i + 1}", m.group(6)))
                break
for n, where, name in sorted(found, reverse=True):
    print(f"{n:4} {where} {name}")
print(f"{len(found)} function(s) over {limit} lines", file=sys.stderr)
sys.exit(1 if found else 0)
