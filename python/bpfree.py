"""bpfree from Python: ctypes over libbpfree.so, NumPy arrays in and out.

No build step and no dependency beyond NumPy: the module finds the shared
library ($BPFREE_LIB, the checkout's build/, an installed prefix's lib/, or
the system's), and speaks to it only through include/bpfree.h.

    import bpfree
    m = bpfree.Model("mf", layers=[1000, 1000], epochs=20, seed=1, threads=1)
    m.fit_dataset("mnist", callback=lambda e: print(e["epoch"], e["test_acc"]))
    scores = m.predict(x)                 # (n, C) float32
    m.save("mf.bpf"); m = bpfree.Model.load("mf.bpf")
    w = m.weights()                       # {"W1": (1000, 784) array, ...}

Settings are the rows of `bpfree --help` (the CLI's options without "--";
'_' may stand for '-'); values are text, numbers, booleans or lists.
Training reproduces `bpfree train` bit for bit: the same data preparation
(--val split seeded by the seed, standardisation with the training set's
statistics), the same calls, the same numbers for the same thread count.
"""
import ctypes
import ctypes.util
import os

import numpy as np

MAX_LAYERS = 128  # BPFREE_MAX_LAYERS


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class _Dataset(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("dim", ctypes.c_int), ("channels", ctypes.c_int),
                ("height", ctypes.c_int), ("width", ctypes.c_int), ("classes", ctypes.c_int),
                ("outputs", ctypes.c_int), ("x", ctypes.POINTER(ctypes.c_float)),
                ("labels", ctypes.POINTER(ctypes.c_int)), ("y", ctypes.POINTER(ctypes.c_float)),
                ("index", ctypes.POINTER(ctypes.c_int)), ("name", ctypes.c_char * 64)]


class _DataOptions(ctypes.Structure):
    _fields_ = [("targets", ctypes.c_char_p), ("classify", ctypes.c_int),
                ("test_fraction", ctypes.c_double), ("seed", ctypes.c_uint64),
                ("standardize", ctypes.c_int)]


class _EpochStats(ctypes.Structure):
    _fields_ = [("epoch", ctypes.c_int), ("train_loss", ctypes.c_double),
                ("train_acc", ctypes.c_double), ("seconds", ctypes.c_double),
                ("samples_per_s", ctypes.c_double), ("lr", ctypes.c_double),
                ("active_layer", ctypes.c_int), ("n_align", ctypes.c_int),
                ("align_deg", ctypes.c_double * MAX_LAYERS), ("n_var", ctypes.c_int),
                ("var_norm", ctypes.c_double * MAX_LAYERS),
                ("var_raw", ctypes.c_double * MAX_LAYERS)]


class _Eval(ctypes.Structure):
    _fields_ = [("loss", ctypes.c_double), ("acc", ctypes.c_double), ("n_heads", ctypes.c_int),
                ("head_acc", ctypes.c_double * MAX_LAYERS)]


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("n", ctypes.c_size_t), ("ndim", ctypes.c_int),
                ("rows", ctypes.c_int), ("cols", ctypes.c_int), ("trainable", ctypes.c_int)]


class BpfreeError(RuntimeError):
    """A library call failed; the message is the library's."""


def _find_library():
    here = os.path.dirname(os.path.abspath(__file__))
    tries = [os.environ.get("BPFREE_LIB"),
             os.path.join(here, "..", "build", "libbpfree.so.0"),          # a checkout
             os.path.join(here, "..", "..", "..", "lib", "libbpfree.so.0"),  # PREFIX/share/bpfree/python
             ctypes.util.find_library("bpfree")]
    for t in tries:
        if t and (os.path.exists(t) or not os.path.isabs(t)):
            try:
                return ctypes.CDLL(t)
            except OSError:
                continue
    raise OSError("libbpfree.so.0 not found: run `make` in the checkout, `make install`, or set "
                  "BPFREE_LIB to its path")


_lib = _find_library()
_P = ctypes.c_void_p


def _sig(name, res, *args):
    f = getattr(_lib, name)
    f.restype = res
    f.argtypes = list(args)
    return f


_sizeof = _sig("bpfree_sizeof", ctypes.c_size_t, ctypes.c_char_p)
for _name, _mirror in (("bpfree_error", _Error), ("bpfree_dataset", _Dataset),
                       ("bpfree_data_options", _DataOptions), ("bpfree_epoch_stats", _EpochStats),
                       ("bpfree_eval", _Eval), ("bpfree_tensor_info", _TensorInfo)):
    if _sizeof(_name.encode()) != ctypes.sizeof(_mirror):
        raise ImportError("bpfree.py's mirror of %s has %d bytes, the library's %d: update the "
                          "_fields_ in python/bpfree.py to include/bpfree.h"
                          % (_name, ctypes.sizeof(_mirror), _sizeof(_name.encode())))

_E = ctypes.POINTER(_Error)
_D = ctypes.POINTER(_Dataset)
_config_default = _sig("bpfree_config_default", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_int,
                       ctypes.c_int, _E)
_config_set = _sig("bpfree_config_set", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_char_p, _E)
_config_set_input = _sig("bpfree_config_set_input", ctypes.c_int, _P, ctypes.c_char_p,
                         ctypes.c_char_p, _E)
_config_get = _sig("bpfree_config_get", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_char_p,
                   ctypes.c_size_t)
_config_check = _sig("bpfree_config_check", ctypes.c_int, _P, _E)
_model_new = _sig("bpfree_model_new", ctypes.c_int, _P, ctypes.POINTER(_P), _E)
_model_free = _sig("bpfree_model_free", None, _P)
_model_config = _sig("bpfree_model_config", _P, _P)
_model_load = _sig("bpfree_model_load", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_P), _E)
_model_save = _sig("bpfree_model_save", ctypes.c_int, _P, ctypes.c_char_p, _E)
_model_peak = _sig("bpfree_model_peak_bytes", ctypes.c_size_t, _P)
_model_epochs_done = _sig("bpfree_model_epochs_done", ctypes.c_int, _P)
_tensor_count = _sig("bpfree_model_tensor_count", ctypes.c_int, _P)
_tensor = _sig("bpfree_model_tensor", ctypes.POINTER(ctypes.c_float), _P, ctypes.c_int,
               ctypes.POINTER(_TensorInfo))
_train_epoch = _sig("bpfree_train_epoch", ctypes.c_int, _P, _D, ctypes.POINTER(_EpochStats), _E)
_evaluate = _sig("bpfree_evaluate", ctypes.c_int, _P, _D, ctypes.POINTER(_Eval), _E)
_predict = _sig("bpfree_predict", ctypes.c_int, _P, ctypes.POINTER(ctypes.c_float), ctypes.c_int,
                ctypes.POINTER(ctypes.c_float), _E)
_data_options_default = _sig("bpfree_data_options_default", None, ctypes.POINTER(_DataOptions))
_data_load = _sig("bpfree_data_load", ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                  ctypes.POINTER(_DataOptions), _D, _D, _E)
_data_free = _sig("bpfree_data_free", None, _D)
_data_split = _sig("bpfree_data_split", ctypes.c_int, _D, ctypes.c_int, ctypes.c_uint64, _D, _E)
_data_stats = _sig("bpfree_data_stats", None, _D, ctypes.POINTER(ctypes.c_float),
                   ctypes.POINTER(ctypes.c_float))
_data_normalize = _sig("bpfree_data_normalize", None, _D, ctypes.c_float, ctypes.c_float)
_FP = ctypes.POINTER(ctypes.c_float)
_norm_affine = _sig("bpfree_norm_affine", ctypes.c_int, _P, _FP, _FP)
_rule_count = _sig("bpfree_rule_count", ctypes.c_int)
_setting_count = _sig("bpfree_setting_count", ctypes.c_int)

_lib.bpfree_rule_at.restype = ctypes.POINTER(ctypes.c_char_p)  # name is the first field
_lib.bpfree_rule_at.argtypes = [ctypes.c_int]
_lib.bpfree_setting_at.restype = ctypes.POINTER(ctypes.c_char_p)
_lib.bpfree_setting_at.argtypes = [ctypes.c_int]
_lib.bpfree_setting_find.restype = ctypes.POINTER(ctypes.c_char_p)
_lib.bpfree_setting_find.argtypes = [ctypes.c_char_p]
_lib.bpfree_setting_applies.restype = ctypes.c_int
_lib.bpfree_setting_applies.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_char_p]
_lib.bpfree_setting_internal.restype = ctypes.c_int
_lib.bpfree_setting_internal.argtypes = [ctypes.POINTER(ctypes.c_char_p)]


def _check(status, err):
    if status != 0:
        raise BpfreeError(err.msg.decode(errors="replace"))


def rules():
    """The rules' names, in the order of `bpfree rules`."""
    return [_lib.bpfree_rule_at(i)[0].decode() for i in range(_rule_count())]


def _text(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


# ------------------------------------------------------------------- data

class _Data:
    """A bpfree_dataset over NumPy arrays that this object keeps alive."""

    def __init__(self, x, labels=None, y=None, name="numpy", shape=(0, 0, 0)):
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        if self.x.ndim == 4:  # images (n, channels, height, width)
            shape = self.x.shape[1:]
            self.x = self.x.reshape(self.x.shape[0], -1)
        if self.x.ndim != 2:
            raise ValueError("x must be (n, features) or images (n, channels, height, width)")
        n, d = self.x.shape
        self.ds = _Dataset(n=n, dim=d, channels=shape[0], height=shape[1], width=shape[2])
        self.ds.x = self.x.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        self.index = np.arange(n, dtype=np.int32)
        self.ds.index = self.index.ctypes.data_as(ctypes.POINTER(ctypes.c_int))
        self.ds.name = name.encode()[:63]
        self.labels = self.y = None
        if labels is not None:
            self.labels = np.ascontiguousarray(labels, dtype=np.int32)
            if self.labels.shape != (n,):
                raise ValueError("labels must be (n,) class indices")
            self.ds.labels = self.labels.ctypes.data_as(ctypes.POINTER(ctypes.c_int))
            self.ds.classes = int(max(2, self.labels.max() + 1)) if n else 2
        if y is not None:
            self.y = np.ascontiguousarray(y, dtype=np.float32).reshape(n, -1)
            self.ds.y = self.y.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            self.ds.outputs = self.y.shape[1]


def _to_numpy(ds):
    """Copy a library-owned dataset into arrays: (x, labels or None, y or None)."""
    n, d = ds.n, ds.dim
    x = np.ctypeslib.as_array(ds.x, shape=(n * d,)).reshape(n, d).copy() if n else np.zeros((0, d), np.float32)
    labels = np.ctypeslib.as_array(ds.labels, shape=(n,)).copy() if ds.labels else None
    y = (np.ctypeslib.as_array(ds.y, shape=(n * ds.outputs,)).reshape(n, ds.outputs).copy()
         if ds.y else None)
    return x, labels, y


def _load(name, targets=None, classify=False):
    """load_data, and the images' shape (channels, height, width) or (0, 0, 0)."""
    opt = _DataOptions()
    _data_options_default(ctypes.byref(opt))
    if targets:
        opt.targets = targets.encode()
    opt.classify = int(classify)
    tr, te, err = _Dataset(), _Dataset(), _Error()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    _check(_data_load(name.encode(), root.encode(), ctypes.byref(opt), ctypes.byref(tr),
                      ctypes.byref(te), ctypes.byref(err)), err)
    try:
        xa, la, ya = _to_numpy(tr)
        xb, lb, yb = _to_numpy(te)
    finally:
        _data_free(ctypes.byref(tr))
        _data_free(ctypes.byref(te))
    shape = (tr.channels, tr.height, tr.width)
    return xa, (ya if ya is not None else la), xb, (yb if yb is not None else lb), shape


def load_data(name, targets=None, classify=False):
    """A data set as `--data` names it: mnist, fashion-mnist, cifar10, diabetes,
    breast-cancer, csv:FILE, or a directory of IDX files.  Returns
    (x_train, t_train, x_test, t_test): x float32 (n, features) — images
    flattened channel by channel, row by row — and t the int32 labels, or
    float32 targets for regression."""
    return _load(name, targets, classify)[:4]


# ------------------------------------------------------------------ model

class Model:
    """A model of one rule.  Model(rule, **settings) holds the settings; the
    network is built by the first fit (when the data's shape is known), or
    at once if `inputs` and `outputs` are given."""

    def __init__(self, rule="mf", inputs=None, outputs=None, **settings):
        self._m = _P()
        self.rule = rule
        self.settings = {k.replace("_", "-"): _text(v) for k, v in settings.items()}
        self._cfg = None
        self.history = []
        if inputs is not None and outputs is not None:
            self._build(inputs, outputs, regression=False)

    def __del__(self):
        if getattr(self, "_m", None):
            _model_free(self._m)
            self._m = _P()

    # -- building
    def _config(self, inputs, outputs, regression, shape=(0, 0, 0)):
        cfg = ctypes.create_string_buffer(_sizeof(b"bpfree_config"))
        err = _Error()
        _check(_config_default(cfg, self.rule.encode(), inputs, outputs, ctypes.byref(err)), err)
        if shape[0]:  # the image shape first: --arch reads it
            _check(_config_set_input(cfg, b"input-shape", ("%dx%dx%d" % tuple(shape)).encode(),
                                     ctypes.byref(err)), err)
        kind0 = self._get(cfg, "optim")
        for k, v in self.settings.items():
            _check(_config_set(cfg, k.encode(), v.encode(), ctypes.byref(err)), err)
        # as the CLI: another optimizer without lr gets that optimizer's usual rate;
        # a regression target gets MSE unless a loss is given
        if self._get(cfg, "optim") != kind0 and "lr" not in self.settings:
            _config_set(cfg, b"lr", b"0.05" if self._get(cfg, "optim") == "sgd" else b"0.001", None)
        if regression and "loss" not in self.settings:
            _check(_config_set(cfg, b"loss", b"mse", ctypes.byref(err)), err)
        return cfg

    @staticmethod
    def _get(cfg, name):
        buf = ctypes.create_string_buffer(512)
        if _config_get(cfg, name.encode(), buf, 512) < 0:
            raise KeyError(name)
        return buf.value.decode()

    def _build(self, inputs, outputs, regression, stats=None, shape=(0, 0, 0)):
        cfg = self._config(inputs, outputs, regression, shape)
        # standardisation statistics, saved with the model
        err = _Error()
        if stats is not None:
            for k, v in (("norm-mean", stats[0]), ("norm-std", stats[1])):
                _check(_config_set_input(cfg, k.encode(), repr(float(v)).encode(),
                                         ctypes.byref(err)), err)
        _check(_config_check(cfg, ctypes.byref(err)), err)
        _check(_model_new(cfg, ctypes.byref(self._m), ctypes.byref(err)), err)
        self._cfg = cfg

    def _need(self):
        if not self._m:
            raise BpfreeError("the model is not built yet: fit it or load one")

    @property
    def config(self):
        """Every setting of the model's rule, as the text `--print-config` writes."""
        self._need()
        cfg = _model_config(self._m)
        out = {"rule": self.rule}
        for i in range(_setting_count()):
            s = _lib.bpfree_setting_at(i)
            if _lib.bpfree_setting_applies(s, self.rule.encode()) and not _lib.bpfree_setting_internal(s):
                name = s[0].decode()
                out[name] = self._get(cfg, name)
        return out

    # -- training
    def fit(self, x, t, x_test=None, t_test=None, x_val=None, t_val=None, callback=None):
        """Train for the config's epochs on arrays: x (n, features) float32 (or
        images (n, channels, height, width), which `arch` needs),
        t (n,) int class labels or (n, k) float regression targets.  After
        every epoch the test (and validation) set is evaluated, and
        callback(record) is called with the epoch's record (also appended
        to self.history).  Returns self.history."""
        regression = t is not None and np.asarray(t).dtype.kind == "f"
        mk = (lambda a, b: _Data(a, y=b)) if regression else (lambda a, b: _Data(a, labels=b))
        train = mk(x, t)
        test = mk(x_test, t_test) if x_test is not None else None
        val = mk(x_val, t_val) if x_val is not None else None
        return self._fit(train, test, val, regression, callback)

    def fit_dataset(self, data="mnist", val=0, callback=None, targets=None, classify=False):
        """Train as `bpfree train --data DATA [--val N]` does, bit for bit."""
        xa, ta, xb, tb, shape = _load(data, targets, classify)
        regression = ta.dtype.kind == "f"
        mk = (lambda a, b: _Data(a, y=b, name=data, shape=shape)) if regression else \
            (lambda a, b: _Data(a, labels=b, name=data, shape=shape))
        train, test = mk(xa, ta), mk(xb, tb)
        classes = max(train.ds.classes, test.ds.classes)
        train.ds.classes = test.ds.classes = classes
        vald = None
        if val:
            cfg = self._config(train.ds.dim, train.ds.outputs if regression else classes,
                               regression, shape)
            vds, err = _Dataset(), _Error()
            # the split shuffles train in place (the arrays are ours) and gives val
            _check(_data_split(ctypes.byref(train.ds), int(val), int(self._get(cfg, "seed")),
                               ctypes.byref(vds), ctypes.byref(err)), err)
            try:
                vx, vl, vy = _to_numpy(vds)
            finally:
                _data_free(ctypes.byref(vds))
            vald = _Data(vx, labels=vl, y=vy, name=data, shape=shape)
            vald.ds.classes = classes
        return self._fit(train, test, vald, regression, callback)

    def _fit(self, train, test, val, regression, callback):
        outputs = train.ds.outputs if regression else max(train.ds.classes,
                                                           test.ds.classes if test else 0)
        shape = (train.ds.channels, train.ds.height, train.ds.width)
        if not self._m:
            cfg = self._config(train.ds.dim, outputs, regression, shape)
            stats = None
            if self._get(cfg, "norm") == "standardize":
                mean, std = ctypes.c_float(), ctypes.c_float()
                _data_stats(ctypes.byref(train.ds), ctypes.byref(mean), ctypes.byref(std))
                stats = (mean.value, std.value)
            self._build(train.ds.dim, outputs, regression, stats, shape)
        mean, std = ctypes.c_float(), ctypes.c_float()
        if _norm_affine(self._cfg, ctypes.byref(mean), ctypes.byref(std)):
            for d in (train, test, val):
                if d is not None:
                    _data_normalize(ctypes.byref(d.ds), mean, std)
        greedy = int(self._get(self._cfg, "greedy"))
        hidden = len(self._get(self._cfg, "layers").split(","))
        total = greedy * hidden if greedy else int(self._get(self._cfg, "epochs"))
        err, st = _Error(), _EpochStats()
        for _ in range(total):
            _check(_train_epoch(self._m, ctypes.byref(train.ds), ctypes.byref(st), ctypes.byref(err)), err)
            rec = {"epoch": st.epoch + 1, "train_loss": st.train_loss, "seconds": st.seconds,
                   "lr": st.lr}
            if not regression:
                rec["train_acc"] = st.train_acc
            if st.n_align:
                rec["align_deg"] = list(st.align_deg[:st.n_align])
            for tag, d in (("val", val), ("test", test)):
                if d is None:
                    continue
                ev = self._eval(d)
                rec[tag + "_loss"] = ev.loss
                if not regression:
                    rec[tag + "_acc"] = ev.acc
            self.history.append(rec)
            if callback:
                callback(rec)
        return self.history

    def _eval(self, d):
        self._need()
        ev, err = _Eval(), _Error()
        _check(_evaluate(self._m, ctypes.byref(d.ds), ctypes.byref(ev), ctypes.byref(err)), err)
        return ev

    def evaluate(self, x, t):
        """(loss, accuracy) on arrays; accuracy is None for regression targets."""
        regression = np.asarray(t).dtype.kind == "f"
        d = _Data(x, y=t) if regression else _Data(x, labels=t)
        ev = self._eval(d)
        return ev.loss, (None if regression else ev.acc)

    def predict(self, x):
        """Scores (n, C) float32 for inputs x (n, features): logits, or the
        rule's own scores (summed goodness for mf and ff)."""
        self._need()
        x = np.ascontiguousarray(x, dtype=np.float32)
        C = int(self._get(_model_config(self._m), "outputs"))
        out = np.empty((x.shape[0], C), dtype=np.float32)
        err = _Error()
        _check(_predict(self._m, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), x.shape[0],
                        out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), ctypes.byref(err)), err)
        return out

    # -- files and weights
    def save(self, path):
        self._need()
        err = _Error()
        _check(_model_save(self._m, os.fsencode(path), ctypes.byref(err)), err)

    @classmethod
    def load(cls, path):
        err = _Error()
        m = cls.__new__(cls)
        m._m = _P()
        m.history = []
        m.settings = {}
        _check(_model_load(os.fsencode(path), ctypes.byref(m._m), ctypes.byref(err)), err)
        m._cfg = _model_config(m._m)
        m.rule = ctypes.string_at(m._cfg).decode()  # bpfree_config starts with char rule[32]
        return m

    def weights(self):
        """{name: array} copies of every tensor (W1, b1, ..., B1 feedback,
        M1 heads ...), shaped as the library says (bpfree_model_tensor)."""
        self._need()
        out = {}
        for i in range(_tensor_count(self._m)):
            info = _TensorInfo()
            p = _tensor(self._m, i, ctypes.byref(info))
            a = np.ctypeslib.as_array(p, shape=(info.n,)).copy()
            out[info.name.decode()] = a.reshape(info.rows, info.cols) if info.ndim == 2 else a
        return out

    @property
    def peak_bytes(self):
        self._need()
        return _model_peak(self._m)

    @property
    def epochs_done(self):
        self._need()
        return _model_epochs_done(self._m)
