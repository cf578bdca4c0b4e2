"""scripts/train_local.sh: how many local ranks it starts, and the thread overrides it puts before the caller's.
A shell script stands in for the tips binary and prints its rank and arguments, so this runs in about a second."""
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "train_local.sh")


def run(ranks, *args):
    with tempfile.TemporaryDirectory() as d:
        fake = os.path.join(d, "tips")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\necho "${RANK:-none} ${WORLD_SIZE:-none} $*"\n')
        os.chmod(fake, 0o755)
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "TRAIN_RANKS")}
        env["MASTER_PORT"] = "29998"
        if ranks is not None:
            env["TRAIN_RANKS"] = str(ranks)
        p = subprocess.run(["bash", SCRIPT, fake, *args], env=env, capture_output=True, text=True, timeout=30)
    return p.returncode, sorted(p.stdout.splitlines()), p.stderr


class TrainLocal(unittest.TestCase):
    def test_one_rank_runs_tips_train_with_the_arguments_unchanged(self):
        rc, lines, err = run(1, "-c", "x.yaml", "train.threads=3")
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, ["none none train -c x.yaml train.threads=3"])

    def test_ranks_share_the_cores_and_the_callers_overrides_come_last(self):
        cores = len(os.sched_getaffinity(0))  # what nproc counts
        threads = cores // 2 if cores > 2 else 1
        rc, lines, err = run(2, "-c", "x.yaml", "train.seed=4")
        self.assertEqual(rc, 0, err)
        self.assertEqual(lines, [f"{r} 2 train train.threads={threads} data.loader.threads=1 -c x.yaml train.seed=4"
                                 for r in range(2)])

    def test_the_default_is_two_ranks_on_two_or_more_cores(self):
        rc, lines, err = run(None, "-c", "x.yaml")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(lines), 2 if len(os.sched_getaffinity(0)) >= 2 else 1, lines)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]])  # ctest passes --tips, unused here
