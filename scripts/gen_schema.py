"""Write schemas/config.schema.yaml (schemas/config.base.yaml plus the parts the option classes
generate) and the README's option tables. ``--check``: exit 1 when either is out of date."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eevflow.schema import README, SCHEMA, readme_with_tables, schema_text  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    stale = []
    for path, text in ((SCHEMA, schema_text()), (README, readme_with_tables(README.read_text()))):
        if path.read_text() != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run `make schema`", file=sys.stderr)
        return 1
    print(("up to date" if not stale else "wrote " + ", ".join(stale)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
