#!/bin/sh
# AASEE end-to-end sample: ordinary work that must stay benign. Coreutils over a private work
# directory, a text file fetched from the (fake) internet and kept, a local program copied and
# run, a compiler run (the guest has no C compiler; CPython's byte-code compiler, py_compile
# and compileall, is the one it has), and a Python program that reads and writes its own
# files. The markers on stdout show each step really ran.
set -e
work=$(mktemp -d /tmp/build.XXXXXX)
cd "$work"
printf 'pear\napple\nfig\nkiwi\n' > fruits.txt
sort fruits.txt > sorted.txt
wc -l sorted.txt
cp sorted.txt sorted-copy.txt
head -n 2 sorted.txt
ls -l
date +%Y-%m-%d > built-on.txt
# A download kept as data (piped into a file, never run) and a copy of a local program, run.
busybox wget -q -O - http://updates.aasee-cdn.example/notes.txt | cat > notes.txt
echo "notes $(cat notes.txt)"
cp /bin/true ./mytrue
./mytrue && echo "local copy ran"
mkdir src
cat > src/inventory.py <<'PY'
"""Counts the fruits of the work directory and keeps a small JSON inventory."""
import json
import os

here = os.getcwd()
with open(os.path.join(here, "sorted.txt")) as source:
    fruits = [line.strip() for line in source if line.strip()]
inventory = {"count": len(fruits), "first": fruits[0], "last": fruits[-1]}
with open(os.path.join(here, "inventory.json"), "w") as out:
    json.dump(inventory, out)
with open(os.path.join(here, "inventory.json")) as back:
    assert json.load(back) == inventory
print("inventory", inventory["count"])
PY
python3 -m py_compile src/inventory.py
python3 -m compileall -q src
ls src/__pycache__
python3 src/inventory.py
tar -cf "$work.tar" -C "$work" .
tar -tf "$work.tar" > /dev/null
cd /
rm -rf "$work" "$work.tar"
echo "build done"
