"""Make the mini-reBEN's table of real reBEN label sets from the release's metadata.parquet.

    python scripts/make_label_sets.py ../shared/reben/metadata.parquet

writes ``src/bigearth/data/reben_label_sets.json`` (see :mod:`bigearth.data.synth_labels`): per country of the
mini-reBEN's tiles, how many clean patches of reBEN carry each label set (classes in table order), keeping the
most frequent sets that together cover up to 95 % of the country's patches (at most 300 sets), and where the
numbers came from (file, md5, rule). ``tests/test_synth_labels.py`` rebuilds it from the real file and compares.
"""

import argparse
import sys
from pathlib import Path

from bigearth.atomic import atomic_write_json
from bigearth.data.synth_labels import LABEL_SETS_FILE, label_set_table


def main(argv: list[str] | None = None) -> None:
    """Write the label-set table (run from the repository root)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metadata", type=Path, help="reBEN's metadata.parquet")
    parser.add_argument("--out", type=Path, default=LABEL_SETS_FILE, help="where the JSON table goes")
    args = parser.parse_args(argv)
    table = label_set_table(args.metadata)
    atomic_write_json(args.out, table)
    sets = sum(len(country["label_sets"]) for country in table["countries"].values())
    print(f"{args.out}: {sets} label sets of {len(table['countries'])} countries from {args.metadata}")


if __name__ == "__main__":
    sys.exit(main())
