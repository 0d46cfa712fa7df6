"""
Times `course similarity` on a class of disguised copies of the solution and prints the seconds.

    python bench/similarity_speed.py [--students 100]

Every student hands in the instructor's solution disguised differently
(``similarity.disguise`` with its own seed: renamed variables, functions in
another order, another layout), so every file is fingerprinted (none is
identical to another) and every pair shares most of its code, the slowest
case for the comparison. The release's untouched modules complete each hw/.

Measured on the 2-core development machine, idle, before the normalised code
was compared too: 100 students (4,950 pairs) in 22 s, 500 students (124,750
pairs) in 125 s, of which 113 s fingerprinting (Pygments, about 0.2 s a
submission) and 7 s comparing all the pairs; the report then took 13 to 15 s
(50 pairs side by side, 10 MiB); 0.8 GB at most.

With the normalised code (a second fingerprint of each module, after
``normalise``), measured on the same machine busy with other work, so in CPU
seconds, the version before it run alongside: 100 students compared in 48 s
CPU (27 s before), the report in 23 s (17.5 s); 500 students compared in 233 s
CPU, the report in 29 s (7 MiB, the pairs shown in the normalised code, which
has no docstrings); 1.3 GB at most. About 0.47 s a submission: Pygments and
copydetect's hashing 0.12 s for the code as written and 0.12 s for the
normalised code, normalising 0.07 s (parsing, removals, order, unparsing).
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

from course import REPO_ROOT
from course.reports.similarity import STARTER, compare, disguise, write_report

EDITED = ["layers.py", "optimizers.py", "training.py", "cnn.py", "classifier.py", "answers.py"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=100)
    args = parser.parse_args()
    solution = {name: (REPO_ROOT / "hw" / name).read_text() for name in EDITED}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folders = {}
        for i in range(args.students):
            folder = Path(tmp) / f"student{i:03d}"
            shutil.copytree(STARTER, folder / "hw", ignore=shutil.ignore_patterns("__pycache__"))
            for name, text in solution.items():
                (folder / "hw" / name).write_text(disguise(text, seed=i))
            folders[folder.name] = folder
        print(f"{args.students} submissions built in {time.perf_counter() - start:.1f} s")
        start, cpu = time.perf_counter(), time.process_time()
        pairs = compare(folders, progress=True)
        compared, compared_cpu = time.perf_counter() - start, time.process_time() - cpu
        out = write_report(pairs, Path(tmp) / "similarity.html", folders)
        reported, reported_cpu = time.perf_counter() - start - compared, time.process_time() - cpu - compared_cpu
        print(f"{len(pairs)} pairs compared in {compared:.1f} s ({compared_cpu:.1f} s CPU), report written in "
              f"{reported:.1f} s ({reported_cpu:.1f} s CPU, {out.stat().st_size >> 20} MiB); "
              f"scores {pairs[-1].score:.0%} to {pairs[0].score:.0%}")


if __name__ == "__main__":
    main()
