#!/usr/bin/python3
"""Tests of python/bpfree.py (run by `make install-check` against the
installed library, and by hand: /usr/bin/python3 python/test_bpfree.py).
Uses the small breast-cancer set (scripts/fetch-data.sh) and the CLI
(build/bpfree, or $BPFREE_BIN) as the reference: same settings, same
numbers, bit for bit."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpfree  # noqa: E402

BIN = os.environ.get("BPFREE_BIN") or os.path.join(HERE, "..", "build", "bpfree")
DATA = "breast-cancer"


def cli(*args):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout


class TestBpfree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.xa, cls.ta, cls.xb, cls.tb = bpfree.load_data(DATA)

    def test_data(self):
        self.assertEqual(self.xa.shape, (455, 30))
        self.assertEqual(self.xb.shape, (114, 30))
        self.assertEqual(self.xa.dtype, np.float32)
        self.assertEqual(set(np.unique(self.ta)), {0, 1})

    def test_same_numbers_as_the_cli(self):
        # standardize exercises the statistics path; --val the split
        args = dict(layers=[32], act="tanh", norm="standardize", epochs=4, seed=3, threads=1,
                    batch=16, lr=3e-3)
        m = bpfree.Model("dfa", **args)
        seen = []
        h = m.fit_dataset(DATA, val=100, callback=seen.append)
        self.assertEqual(len(h), 4)
        self.assertEqual(seen, h)
        log = os.path.join(tempfile.mkdtemp(), "l.jsonl")
        cli("train", "--rule", "dfa", "--data", DATA, "--val", "100", "--layers", "32", "--act",
            "tanh", "--norm", "standardize", "--epochs", "4", "--seed", "3", "--threads", "1",
            "--batch", "16", "--lr", "3e-3", "--log", log)
        with open(log) as f:
            lines = [l for l in f if '"epoch"' in l]
        for rec, line in zip(h, lines):
            for key in ("train_loss", "test_acc", "val_acc"):
                want = float(re.search('"%s": ([-0-9.e+]+)' % key, line).group(1))
                self.assertAlmostEqual(rec[key], want, delta=abs(want) * 1e-5 + 1e-12, msg=key)

    def test_train_predict_save_load(self):
        m = bpfree.Model("mf", layers=[16, 16], epochs=3, seed=1, threads=1)
        m.fit(self.xa, self.ta, self.xb, self.tb)
        self.assertGreater(m.history[-1]["test_acc"], 0.8)  # it learned
        s = m.predict(self.xb)
        self.assertEqual(s.shape, (114, 2))
        self.assertEqual(s.dtype, np.float32)
        loss, acc = m.evaluate(self.xb, self.tb)
        self.assertAlmostEqual(acc, float((s.argmax(1) == self.tb).mean()), places=12)
        path = os.path.join(tempfile.mkdtemp(), "m.bpf")
        m.save(path)
        m2 = bpfree.Model.load(path)
        self.assertEqual(m2.rule, "mf")
        self.assertEqual(m2.epochs_done, 3)
        np.testing.assert_array_equal(m2.predict(self.xb), s)
        w = m2.weights()
        self.assertEqual(w["W1"].shape, (16, 30))
        self.assertEqual(w["W2"].shape, (16, 16))
        self.assertEqual(w["M1"].shape, (2, 16))  # mf's local heads
        self.assertEqual(m2.config["layers"], "16,16")
        self.assertGreater(m2.peak_bytes, 0)
        # the CLI reads the file Python wrote, and agrees on its accuracy
        out = cli("eval", path, "--data", DATA)
        self.assertIn("accuracy %.2f%%" % (100 * acc), out)

    def test_regression_targets(self):
        xa, ya, xb, yb = bpfree.load_data("diabetes")
        self.assertEqual(ya.dtype, np.float32)
        m = bpfree.Model("bp", layers=[16], epochs=2, seed=1, threads=1)
        m.fit(xa, ya, xb, yb)
        self.assertIn("test_loss", m.history[-1])
        self.assertEqual(m.predict(xb).shape, (xb.shape[0], 1))

    def test_errors(self):
        with self.assertRaisesRegex(bpfree.BpfreeError, "unknown rule"):
            bpfree.Model("nope").fit(self.xa, self.ta)
        with self.assertRaisesRegex(bpfree.BpfreeError, "ff-peer does not apply to rule bp"):
            bpfree.Model("bp", ff_peer=0.03).fit(self.xa, self.ta)
        with self.assertRaises(bpfree.BpfreeError):
            bpfree.Model.load("/nonexistent/model.bpf")
        with self.assertRaises(bpfree.BpfreeError):
            bpfree.Model("bp").predict(self.xb)  # not built

    def test_images_and_arch(self):
        # (n, channels, height, width) arrays give the shape that --arch needs
        rng = np.random.default_rng(0)
        x = rng.random((64, 1, 8, 8), dtype=np.float32)
        t = (x[:, 0, :4].sum(axis=(1, 2)) > x[:, 0, 4:].sum(axis=(1, 2))).astype(np.int32)
        m = bpfree.Model("bp", arch="2c3-P2-8", epochs=2, batch=16, seed=1, threads=1)
        m.fit(x, t)
        self.assertEqual(m.weights()["W1"].shape, (2, 9))  # 2 kernels of 1x3x3
        self.assertEqual(m.predict(x.reshape(64, -1)).shape, (64, 2))

    def test_rules(self):
        self.assertIn("mf", bpfree.rules())
        self.assertIn("fdfa", bpfree.rules())


if __name__ == "__main__":
    unittest.main(verbosity=2)
