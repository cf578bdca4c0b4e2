"""scripts/launch_local.sh: torchrun variables per rank, first failure wins and stops the others, signals reach
the ranks. Plain shell commands as ranks, so it runs in about a second."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "launch_local.sh")


def launch(n, cmd, grace_s=None, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE")}
    env["MASTER_PORT"] = "29999"
    if grace_s is not None:
        env["GRACE_S"] = grace_s
    return subprocess.Popen(["bash", SCRIPT, str(n), "sh", "-c", cmd], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


class LaunchLocal(unittest.TestCase):
    def test_sets_the_torchrun_variables_per_rank(self):
        p = launch(3, 'echo "$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT"')
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(sorted(out.splitlines()),
                         [f"{r} 3 {r} 3 127.0.0.1 29999" for r in range(3)])

    def test_a_failing_rank_stops_the_others_and_sets_the_status(self):
        t0 = time.monotonic()
        p = launch(2, 'if [ "$RANK" = 1 ]; then exit 7; fi; sleep 30')
        _, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 7, err)
        self.assertLess(time.monotonic() - t0, 10.0)  # rank 0's 30 s sleep was cut short
        self.assertIn("rank 1", err)

    def test_a_rank_that_ignores_term_is_killed_after_the_grace(self):
        t0 = time.monotonic()
        p = launch(2, 'if [ "$RANK" = 1 ]; then exit 7; fi; trap "" TERM; sleep 30', grace_s="1")
        _, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 7, err)
        self.assertGreater(time.monotonic() - t0, 1.0)  # TERM alone did not stop rank 0
        self.assertLess(time.monotonic() - t0, 10.0)

    def test_term_is_forwarded_to_every_rank(self):
        with tempfile.TemporaryDirectory() as ready:
            # Each rank reports once its trap is set: a fixed sleep here failed under a loaded ctest -j2.
            p = launch(2, f'trap "echo got-term-$RANK; exit 0" TERM; touch {ready}/$RANK; sleep 30 & wait')
            deadline = time.monotonic() + 20
            while len(os.listdir(ready)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(len(os.listdir(ready)), 2, "the ranks did not start within 20 s")
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        self.assertLess(time.monotonic() - t0, 10.0)
        self.assertEqual(sorted(out.split()), ["got-term-0", "got-term-1"], err)
        self.assertEqual(p.returncode, 0, err)

    def test_rejects_a_bad_rank_count(self):
        p = launch(0, "true")
        _, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage", err)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]])
