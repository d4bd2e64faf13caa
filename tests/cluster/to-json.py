"""Prints the YAML documents of a file as one JSON array, for tests that assert on objects.

    python to-json.py FILE
"""
import json
import sys

import yaml

print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))
