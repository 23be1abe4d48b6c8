"""Embed propcare in a program: an estate, a building, units and an owner, in one SQLite file.

    python examples/embed_minimal.py [path/to/estate.db]

Without an argument the database goes to a fresh temporary folder. Run it twice on the same
file and the second run finds the estate already there.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from propcare import Actor, Propcare, UnitSpec


def main(argv: list[str]) -> int:
    db = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp()) / "estate.db"
    admin = Actor.system()
    with Propcare.open(f"sqlite:///{db}") as app:
        existing = [e for e in app.estates.list(admin) if e.name == "翠苑小区"]
        if existing:
            estate = existing[0]
            print(f"{estate.name}: already in {db}")
        else:
            estate = app.estates.create(admin, "翠苑小区")
            building = app.estates.add_building(admin, estate.id, "1栋")
            specs = [UnitSpec(f"{floor}0{n}", Decimal("89.50")) for floor in (1, 2) for n in (1, 2)]
            units = app.estates.add_units(admin, building.id, specs)
            owner = app.owners.create(admin, estate.id, "张三", phones=["13812341234"])
            app.owners.assign(admin, units[0].id, owner.id, start=date(2024, 5, 1))
        units = app.estates.units(admin, estate.id)
        print(f"{estate.name} ({db}): {len(units)} units")
        for unit in units:
            holder = app.owners.owner_of(admin, unit.id, on=date.today())
            who = f"{holder.name} {holder.primary_phone}" if holder else "(no owner)"
            print(f"  {unit.number}  {unit.floor_area} m²  {who}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
