"""Tests of track.py: python3 -m unittest discover -s bench/gpu -p 'test_*.py'"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def write_run(d, rows, samples=None):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "metrics.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    if samples is not None:
        with open(os.path.join(d, "samples.jsonl"), "w") as f:
            for s in samples:
                f.write(json.dumps(s) + "\n")


def track(*args):
    p = subprocess.run([sys.executable, os.path.join(HERE, "track.py"), *args], capture_output=True, text=True)
    return p.returncode, p.stdout


def row(out, metric):
    return next(l for l in out.splitlines() if f"| {metric} |" in l)


class TrackTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_tracks_within_tolerance(self):
        cpu, dev = os.path.join(self.d, "cpu"), os.path.join(self.d, "dev")
        write_run(cpu, [{"step": 1, "time": 1, "objective/kl": 0, "objective/scores": 1.0},
                        {"step": 2, "time": 2, "objective/kl": 2.0, "objective/scores": 0.5}],
                  [{"step": 1, "prompt": "a", "completion": "b"}, {"step": 2, "prompt": "a", "completion": "c"}])
        # KL off by 0.05 at step 1, where the CPU's is 0: 2.5% of the curve's scale 2.
        write_run(dev, [{"step": 1, "time": 5, "objective/kl": 0.05, "objective/scores": 1.0},
                        {"step": 2, "time": 6, "objective/kl": 2.0, "objective/scores": 0.52}],
                  [{"step": 1, "prompt": "a", "completion": "b"}, {"step": 2, "prompt": "a", "completion": "x"}])
        rc, out = track("ppo", cpu, dev)
        self.assertEqual(rc, 0, out)
        self.assertIn("2.50% | yes", row(out, "objective/kl"))
        self.assertIn("| 0.02 | 2.00% | yes", row(out, "objective/scores"))
        self.assertIn("identical: 1 of 2; first difference at step 2", row(out, "samples.jsonl completions"))
        rc, out = track("-tol", "0.01", "ppo", cpu, dev)
        self.assertEqual(rc, 1, out)
        self.assertIn("| no |", row(out, "objective/kl"))

    def test_missing_steps_nan_and_missing_runs(self):
        cpu, dev = os.path.join(self.d, "cpu"), os.path.join(self.d, "dev")
        write_run(cpu, [{"step": 1, "time": 1, "train/loss": 0.7, "val/explained_variance": "NaN"},
                        {"step": 2, "time": 1, "train/loss": 0.6, "val/explained_variance": 0.5}])
        write_run(dev, [{"step": 1, "time": 1, "train/loss": 0.7, "val/explained_variance": "NaN"},
                        {"step": 2, "time": 1, "val/explained_variance": "NaN"}])
        rc, out = track("rm", cpu, dev)
        self.assertEqual(rc, 1, out)
        self.assertIn("no (steps differ)", row(out, "train/loss"))
        self.assertIn("| inf |", row(out, "val/explained_variance"))
        rc, out = track("rm", cpu, os.path.join(self.d, "none"))
        self.assertEqual(rc, 2, out)
        rc, _ = track("rm", cpu)
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main()
