"""What encryption at rest costs: sealing into and opening out of the vault.

    .venv/bin/python tests/bench/bench_vault.py [--mb 200]

Times, on one random file of ``--mb`` MiB (median of three): ``put_file`` (read,
seal, atomic write), ``decrypt_to`` into a plaintext folder (what a job does before
ffmpeg reads), a full streamed read (what the media route sends), a 1 MiB range
from the middle, and the size on disk against the plain size. Writes only to a
temp folder and /dev/shm (wiped).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from storyteller.store import crypto  # noqa: E402
from storyteller.store.vault import Vault  # noqa: E402


def timed(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "plain.bin"
        with open(source, "wb") as out:
            for _ in range(args.mb):
                out.write(os.urandom(1 << 20))
        vault = Vault(Path(tmp) / "data" / "vault", crypto.new_key())
        names = []
        put = timed(lambda: names.append(vault.put_file(source)))
        name = names[-1]

        def decrypt():
            with vault.scratch("bench", args.mb << 20) as folder:
                vault.decrypt_to(name, folder / "plain.bin")

        def stream():
            with vault.open(name) as f:
                while f.read(1 << 20):
                    pass

        def middle():
            with vault.open(name) as f:
                f.seek((args.mb << 19) + 12345)
                f.read(1 << 20)

        mb = args.mb
        print(f"file: {mb} MiB; on disk {(vault.root / name).stat().st_size / source.stat().st_size:.6f} x the plain size")
        print(f"put_file (seal):        {timed(lambda: None) + put:6.2f} s  {mb / put:7.0f} MiB/s")
        d = timed(decrypt)
        print(f"decrypt_to (/dev/shm):  {d:6.2f} s  {mb / d:7.0f} MiB/s")
        s = timed(stream)
        print(f"streamed read:          {s:6.2f} s  {mb / s:7.0f} MiB/s")
        print(f"1 MiB range, mid-file:  {timed(middle) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
