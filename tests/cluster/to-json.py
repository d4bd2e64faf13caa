"""Prints the YAML documents of the files named as one JSON array, for tests that assert on objects.

    python to-json.py FILE...
"""
import json
import sys

from report import objects

print(json.dumps(list(objects(sys.argv[1:]))))
