#!/usr/bin/env python3
"""File-system probes for the bench, timed here rather than through a process per operation.

  fsops.py randread FILE OFFSETS_JSON [--dontneed]   pread 4 KiB at each offset (POSIX_FADV_RANDOM,
                                                     so the kernel reads no more than asked);
                                                     --dontneed first drops FILE's pages from the
                                                     page cache. Prints {"lat_us": [...]}.
  fsops.py smallfiles DIR COUNT SIZE                 create+write+close COUNT files of SIZE bytes.
                                                     Prints {"seconds": s}.
"""
import json
import os
import sys
import time


def randread(path, offsets_file, dontneed):
    with open(offsets_file) as f:
        offsets = json.load(f)
    fd = os.open(path, os.O_RDONLY)
    try:
        if dontneed:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        lat = []
        for off in offsets:
            t0 = time.perf_counter_ns()
            data = os.pread(fd, 4096, off)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
            if len(data) != 4096:
                raise SystemExit(f"short read at {off}: {len(data)} bytes")
    finally:
        os.close(fd)
    print(json.dumps({"lat_us": lat}))


def smallfiles(directory, count, size):
    data = os.urandom(size)
    t0 = time.perf_counter()
    for i in range(count):
        fd = os.open(os.path.join(directory, f"f{i:05d}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


def main(argv):
    if len(argv) >= 3 and argv[0] == "randread":
        randread(argv[1], argv[2], "--dontneed" in argv[3:])
    elif len(argv) == 4 and argv[0] == "smallfiles":
        smallfiles(argv[1], int(argv[2]), int(argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
