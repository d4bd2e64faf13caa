"""What the offline checks share: the objects of the YAML files named, and the report."""
import yaml


def objects(paths):
    """Every object in the YAML files at `paths`, in order."""
    for path in paths:
        with open(path) as f:
            yield from (obj for obj in yaml.safe_load_all(f) if obj)


def report(found, checked):
    """Prints each violation and what was checked; the exit status (1 if any was found)."""
    for violation in found:
        print(violation)
    print(f"checked {checked}: {len(found)} violations")
    return 1 if found else 0
