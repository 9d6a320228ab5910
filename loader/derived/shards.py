"""Items split between several workers sharing one lists database: worker i of W owns the items whose
stable hash (CRC-32 of the id's UTF-8) is i modulo W, and keeps their tallies, lists and its own part
of the best sellers, from a checkpoint of its own."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """`i/W`, 0 ≤ i < W; ValueError naming what is wrong otherwise."""
        index, slash, count = text.partition("/")
        if not slash or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"{text!r} is not i/W (this worker's number and the number of workers, e.g. 0/2)")
        shard = cls(int(index), int(count))
        if shard.count < 1 or shard.index >= shard.count:
            raise ValueError(f"{text!r}: the worker's number must be 0 to {max(shard.count - 1, 0)} of {shard.count}")
        return shard

    def owns(self, item: str) -> bool:
        return self.count == 1 or zlib.crc32(item.encode()) % self.count == self.index

    @property
    def suffix(self) -> str:
        """What this shard adds to the ids of its own documents ("" for a single worker)."""
        return "" if self.count == 1 else f"-{self.index}of{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


EVERY_ITEM = Shard(0, 1)
