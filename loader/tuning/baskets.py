"""Read order baskets for offline evaluation, whatever file they come in.

- JSON lines: one object per order with an `items` list (ids or {item_id} lines),
  optional `order_id`, `timestamp`, `user_id`; log documents (checkout and
  purchase logs, e.g. `couchrec generate` output) are read as orders too, other
  logs are skipped;
- CSV with `order_id,item_id` columns (optional `timestamp`, `user_id`), one row per item;
- ARFF market-basket data (Weka's supermarket.arff): each attribute whose only
  value is `t` is an item, and a row's items are the attributes set to `t`.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Basket:
    order_id: str
    items: tuple[str, ...]
    timestamp: str | None = None
    user_id: str | None = None


def distinct(items) -> tuple[str, ...]:
    ids = (line["item_id"] if isinstance(line, dict) else line for line in items)
    return tuple(dict.fromkeys(str(item) for item in ids))


def read_baskets(path: Path) -> list[Basket]:
    """Read every basket of a file; raise ValueError naming the line when the file is not one of the formats."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".arff":
        return read_arff(path)
    return read_json_lines(path)


def read_json_lines(path: Path) -> list[Basket]:
    baskets = []
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"{path}, line {number}: not JSON (expected one order object per line)") from None
            if record.get("log_type") == "purchase":
                items = [record["item_id"]]
            elif "items" in record and record.get("log_type") in (None, "checkout"):
                items = record["items"]
            else:
                continue
            order_id = str(record.get("order_id") or record.get("_id") or f"line-{number}")
            baskets.append(Basket(order_id, distinct(items), record.get("timestamp"), record.get("user_id")))
    return baskets


def read_csv(path: Path) -> list[Basket]:
    orders: dict[str, dict] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"order_id", "item_id"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{path}: a basket CSV needs the columns order_id,item_id")
        for row in reader:
            order = orders.setdefault(row["order_id"], {"items": [], "timestamp": row.get("timestamp") or None,
                                                        "user_id": row.get("user_id") or None})
            order["items"].append(row["item_id"])
    return [Basket(order_id, distinct(order["items"]), order["timestamp"], order["user_id"])
            for order_id, order in orders.items()]


ATTRIBUTE = re.compile(r"^@attribute\s+('(?:[^']*)'|\S+)\s+\{\s*(.*?)\s*\}", re.IGNORECASE)


def read_arff(path: Path) -> list[Basket]:
    names, is_item, baskets, in_data = [], [], [], False
    for line in path.read_text(errors="replace").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        if in_data:
            values = [value.strip() for value in stripped.split(",")]
            items = [name for name, item, value in zip(names, is_item, values) if item and value == "t"]
            baskets.append(Basket(f"row-{len(baskets) + 1}", tuple(items)))
        elif stripped.lower().startswith("@attribute"):
            match = ATTRIBUTE.match(stripped)
            names.append(match.group(1).strip("'") if match else stripped.split()[1])
            is_item.append(bool(match) and match.group(2).strip() == "t")
        elif stripped.lower().startswith("@data"):
            in_data = True
    if not any(is_item):
        raise ValueError(f"{path}: no market-basket attributes (attributes whose only value is t)")
    return baskets
