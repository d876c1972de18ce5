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
                        {"step": 2, "time": 2, "objective/kl": 2.0, "objective/scores": 0.5}])
        # KL off by 0.05 at step 1, where the CPU's is 0: 2.5% of the curve's scale 2.
        write_run(dev, [{"step": 1, "time": 5, "objective/kl": 0.05, "objective/scores": 1.0},
                        {"step": 2, "time": 6, "objective/kl": 2.0, "objective/scores": 0.52}])
        rc, out = track("ppo", cpu, dev)
        self.assertEqual(rc, 0, out)
        self.assertIn("| 0.05 | 0.025 |  | yes |", row(out, "objective/kl"))
        self.assertIn("| 0.02 | 0.02 |  | yes |", row(out, "objective/scores"))
        rc, out = track("-tol", "0.01", "ppo", cpu, dev)
        self.assertEqual(rc, 1, out)
        self.assertIn("| no |", row(out, "objective/kl"))

    def test_samples_split_lockstep_and_seed_noise(self):
        d = lambda n: os.path.join(self.d, n)
        same = {"step": 1, "prompt": "a", "completion": "b"}
        write_run(d("cpu"), [{"step": s, "time": 0, "objective/scores": v} for s, v in [(1, 1.0), (2, 2.0), (3, 1.0)]],
                  [same, {"step": 2, "prompt": "a", "completion": "c"}])
        # The samples differ from step 2; before that the scores agree.
        write_run(d("dev"), [{"step": s, "time": 0, "objective/scores": v} for s, v in [(1, 1.0), (2, 1.5), (3, 2.0)]],
                  [same, {"step": 2, "prompt": "a", "completion": "x"}])
        # Seed runs 0.6 and 1.2 away from the CPU run (and 0.6 from each other).
        write_run(d("s2"), [{"step": s, "time": 0, "objective/scores": v} for s, v in [(1, 1.6), (2, 2.0), (3, 1.0)]])
        write_run(d("s3"), [{"step": s, "time": 0, "objective/scores": v} for s, v in [(1, 2.2), (2, 2.0), (3, 1.0)]])
        rc, out = track("ppo", d("cpu"), d("dev"))
        self.assertEqual(rc, 1, out)  # 1.0 after step 2 is half the scale, no seed runs
        self.assertIn("identical: 1 of 2; first difference at step 2", row(out, "samples.jsonl completions"))
        self.assertIn("| 0 before step 2, 0.5 after |", row(out, "objective/scores"))
        rc, out = track("-noise", "ppo=" + d("s2"), "ppo", d("cpu"), d("dev"))
        self.assertEqual(rc, 1, out)  # noise 0.6 < 1.0
        self.assertIn("| 0.6 | no |", row(out, "objective/scores"))
        rc, out = track("-noise", "ppo=" + d("s2"), "-noise", "ppo=" + d("s3"), "ppo", d("cpu"), d("dev"))
        self.assertEqual(rc, 0, out)  # noise 1.2 >= 1.0
        self.assertIn("| 1.2 | yes |", row(out, "objective/scores"))
        # A difference before the samples diverge is never excused by noise.
        write_run(d("dev2"), [{"step": s, "time": 0, "objective/scores": v} for s, v in [(1, 1.5), (2, 2.0), (3, 1.0)]],
                  [same, {"step": 2, "prompt": "a", "completion": "x"}])
        rc, out = track("-noise", "ppo=" + d("s3"), "ppo", d("cpu"), d("dev2"))
        self.assertEqual(rc, 1, out)
        self.assertIn("| 0.25 before step 2, 0 after | 1.2 | no |", row(out, "objective/scores"))
        rc, _ = track("-noise", "ppo", "ppo", d("cpu"), d("dev"))
        self.assertEqual(rc, 2)

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
