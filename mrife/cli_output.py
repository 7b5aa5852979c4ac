"""What the command line prints on ranks other than 0 under torchrun."""

from __future__ import annotations

import sys


class RankProgress:
    """stdout of ranks other than 0: their progress lines go to stderr with the rank in front,
    everything else (what rank 0 also says) is dropped."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith(("tiles ", "rows of tile rows")):
                sys.stderr.write(f"[rank {self.rank}] {line}\n")
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()
