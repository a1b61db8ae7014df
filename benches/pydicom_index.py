"""Index a tree with pydicom, headers only: the baseline `dicura scan` is compared against.

usage: pydicom_index.py DIR [PROCESSES]   prints the number of files read
"""
import os
import sys
from multiprocessing import Pool

import pydicom


def read(path):
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        return (path, str(ds.get("SOPInstanceUID", "")), str(ds.get("Modality", "")))
    except Exception:
        return None


def main():
    root = sys.argv[1]
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    paths = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files if f.endswith(".dcm")]
    if procs > 1:
        with Pool(procs) as pool:
            rows = pool.map(read, paths, chunksize=256)
    else:
        rows = [read(p) for p in paths]
    print(sum(1 for r in rows if r))


if __name__ == "__main__":
    main()
