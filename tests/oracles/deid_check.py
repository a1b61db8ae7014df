#!/usr/bin/env python3
"""Independent check of a de-identified tree with pydicom (not dicura's reader).

Usage: deid_check.py OUT_DIR PLANTED.json
PLANTED.json: {"strings": [...], "uids": [...], "e11": {"GGGGEEEE": "X/Z/D", ...},
               "allowed": ["GGGGEEEE", ...]}  (tags whose values the run keeps by design)

Prints one JSON object: files, problems (list of strings, no values), references checked.
"""
import json
import os
import sys

import pydicom

# Values that carry no information: what PS3.15's D (dummy) action may leave.
DUMMIES = {"ANONYMIZED", "19000101", "000000", "19000101000000", "0", "0.0", "[0, 0]",
           "B'\\X00\\X00'", "ANONYMOUS"}


def main():
    out_dir, planted_path = sys.argv[1], sys.argv[2]
    planted = json.load(open(planted_path))
    strings = [s.upper() for s in planted["strings"] if len(s) >= 4]
    uids = set(planted["uids"])
    e11 = planted["e11"]
    allowed = set(planted["allowed"])
    problems = []
    sops = set()
    refs = []
    files = 0

    def walk(ds, where, path):
        for elem in ds:
            tag = "%08X" % int(elem.tag)
            group = int(elem.tag) >> 16
            if group % 2 == 1:
                problems.append(f"{path}: private element {tag} at {where}")
                continue
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value):
                    walk(item, f"{where}{tag}[{i}].", path)
                continue
            value = elem.value
            if value is None or value == "" or value == b"":
                continue
            text = str(value).upper()
            action = e11.get(tag)
            alts = action.split("/") if action else []
            if tag not in allowed and alts:
                if "D" in alts:
                    # X/D, Z/D, X/Z/D: a dummy when the IOD requires a value, else nothing.
                    if text.strip() not in DUMMIES:
                        problems.append(f"{path}: {tag} ({action}) is not a dummy at {where}")
                elif any(a in ("X", "Z", "C") for a in alts):
                    problems.append(f"{path}: {tag} ({action}) has a value at {where}")
            if elem.VR == "UI":
                vals = value if isinstance(value, pydicom.multival.MultiValue) else [value]
                for v in vals:
                    if str(v) in uids:
                        problems.append(f"{path}: original UID in {tag} at {where}")
                if tag == "00081155":
                    refs.append(str(value))
            elif elem.VR not in ("OB", "OW", "OF", "OD", "OL", "UN"):
                for s in strings:
                    if s in text:
                        problems.append(f"{path}: planted identifier in {tag} at {where}")

    for root, _, names in os.walk(out_dir):
        for n in names:
            if not n.endswith(".dcm"):
                continue
            p = os.path.join(root, n)
            ds = pydicom.dcmread(p)
            files += 1
            sop = ds.get("SOPInstanceUID")
            if sop is not None:
                sops.add(str(sop))
                if str(ds.file_meta.MediaStorageSOPInstanceUID) != str(sop):
                    problems.append(f"{p}: meta and data set SOP Instance UIDs differ")
            if ds.get("PatientIdentityRemoved") != "YES":
                problems.append(f"{p}: PatientIdentityRemoved is not YES")
            walk(ds, "", p)
    dangling = [r for r in refs if r not in sops]
    print(json.dumps({"files": files, "problems": problems, "references": len(refs),
                      "dangling": len(dangling)}))


if __name__ == "__main__":
    main()
