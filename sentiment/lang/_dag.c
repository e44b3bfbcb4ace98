/* jieba's DAG + max-probability route without HMM, for one block of Han/ASCII text.
 *
 * The C twin of `Segmenter._cut_block_py` in segment.py: the same log-probabilities from
 * jieba's FREQ, the same arithmetic in IEEE doubles, the same tie-breaking and the same
 * joining of single ASCII letters and digits, so both give identical words; the memo of
 * log-probabilities is a C table (cleared when full, like the Python one). segment.py
 * falls back on the Python version when this extension was not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define PREFIX_ONLY 1.0 /* a prefix of dictionary words, itself no word */
#define NO_PREFIX 2.0   /* not even a prefix: the scan from this position stops */

static int
is_eng1(Py_UCS4 c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
append_slice(PyObject *list, PyObject *block, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *word = PyUnicode_Substring(block, start, end);
    if (word == NULL)
        return -1;
    int failed = PyList_Append(list, word);
    Py_DECREF(word);
    return failed;
}

/* The words of a block from its route: jieba joins runs of single ASCII letters and digits. */
static PyObject *
words_of_route(PyObject *block, int kind, const void *data, Py_ssize_t n, const Py_ssize_t *route_x)
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t x = 0, buf = -1; /* buf: start of a run of single ASCII letters and digits */
    while (x < n) {
        Py_ssize_t y = route_x[x] + 1;
        if (y - x == 1 && is_eng1(PyUnicode_READ(kind, data, x))) {
            if (buf < 0)
                buf = x;
        } else {
            if (buf >= 0) {
                if (append_slice(out, block, buf, x))
                    goto fail;
                buf = -1;
            }
            if (append_slice(out, block, x, y))
                goto fail;
        }
        x = y;
    }
    if (buf >= 0 && append_slice(out, block, buf, n))
        goto fail;
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* ---------------------------------------------------------------- Scanner
 *
 * The memo of log-probabilities as an open-addressing table keyed by the fragment's code
 * points, hashed incrementally as the scan extends a fragment by one character: no string
 * object is made for a fragment the memo already holds (most of them, once warm).
 */
typedef struct {
    Py_UCS4 *chars; /* NULL: an empty slot */
    Py_ssize_t len;
    uint64_t hash;
    double value;
} Entry;

typedef struct {
    PyObject_HEAD
    PyObject *freq;
    double logtotal;
    Py_ssize_t limit; /* cleared when it holds this many */
    Py_ssize_t used;
    size_t mask;      /* capacity - 1 (a power of two, at least twice the limit) */
    Entry *slots;
} Scanner;

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

static void
scanner_clear_slots(Scanner *s)
{
    if (s->slots == NULL)
        return;
    for (size_t i = 0; i <= s->mask; i++) {
        if (s->slots[i].chars != NULL) {
            PyMem_Free(s->slots[i].chars);
            s->slots[i].chars = NULL;
        }
    }
    s->used = 0;
}

static int
scanner_init(Scanner *self, PyObject *args, PyObject *kwds)
{
    PyObject *freq;
    double logtotal;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!dn:Scanner", &PyDict_Type, &freq, &logtotal, &limit))
        return -1;
    if (limit < 1) {
        PyErr_SetString(PyExc_ValueError, "limit must be positive");
        return -1;
    }
    scanner_clear_slots(self);
    PyMem_Free(self->slots);
    size_t cap = 16;
    while (cap < (size_t)limit * 2)
        cap <<= 1;
    self->slots = PyMem_Calloc(cap, sizeof(Entry));
    if (self->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->mask = cap - 1;
    self->used = 0;
    self->limit = limit;
    self->logtotal = logtotal;
    Py_INCREF(freq);
    Py_XSETREF(self->freq, freq);
    return 0;
}

static void
scanner_dealloc(Scanner *self)
{
    scanner_clear_slots(self);
    PyMem_Free(self->slots);
    Py_XDECREF(self->freq);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* log P(block[k:end]) whose incremental hash is `hash`; 0 on success, -1 with an exception. */
static int
scanner_logp(Scanner *s, PyObject *block, int kind, const void *data, Py_ssize_t k, Py_ssize_t end,
             uint64_t hash, double *out)
{
    Py_ssize_t len = end - k;
    size_t i = (size_t)hash & s->mask;
    for (;; i = (i + 1) & s->mask) {
        Entry *e = &s->slots[i];
        if (e->chars == NULL)
            break;
        if (e->hash == hash && e->len == len) {
            Py_ssize_t j = 0;
            while (j < len && e->chars[j] == PyUnicode_READ(kind, data, k + j))
                j++;
            if (j == len) {
                *out = e->value;
                return 0;
            }
        }
    }
    PyObject *frag = PyUnicode_Substring(block, k, end);
    if (frag == NULL)
        return -1;
    double value;
    PyObject *f = PyDict_GetItemWithError(s->freq, frag);
    if (f == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(frag);
            return -1;
        }
        value = NO_PREFIX;
    } else {
        double count = PyFloat_AsDouble(f);
        if (count == -1.0 && PyErr_Occurred()) {
            Py_DECREF(frag);
            return -1;
        }
        value = count == 0.0 ? PREFIX_ONLY : log(count) - s->logtotal;
    }
    Py_DECREF(frag);
    Py_UCS4 *chars = PyMem_Malloc(len * sizeof(Py_UCS4));
    if (chars == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t j = 0; j < len; j++)
        chars[j] = PyUnicode_READ(kind, data, k + j);
    if (s->used >= s->limit) { /* full: start over, as the Python memo does */
        scanner_clear_slots(s);
        i = (size_t)hash & s->mask;
    }
    s->slots[i].chars = chars;
    s->slots[i].len = len;
    s->slots[i].hash = hash;
    s->slots[i].value = value;
    s->used++;
    *out = value;
    return 0;
}

static PyObject *
scanner_cut(Scanner *self, PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "cut() takes a str");
        return NULL;
    }
    if (self->slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scanner not initialized");
        return NULL;
    }
    PyObject *block = arg;
    Py_ssize_t n = PyUnicode_GET_LENGTH(block);
    int kind = PyUnicode_KIND(block);
    const void *data = PyUnicode_DATA(block);
    double *route_p = PyMem_Malloc((n + 1) * sizeof(double));
    Py_ssize_t *route_x = PyMem_Malloc((n + 1) * sizeof(Py_ssize_t));
    PyObject *out = NULL;
    if (route_p == NULL || route_x == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    route_p[n] = 0.0;
    route_x[n] = n;
    double unknown = 0.0 - self->logtotal;
    for (Py_ssize_t k = n - 1; k >= 0; k--) {
        double best_p = -INFINITY;
        Py_ssize_t best_x = k;
        uint64_t hash = FNV_OFFSET;
        for (Py_ssize_t end = k + 1;; end++) {
            hash = (hash ^ (uint64_t)PyUnicode_READ(kind, data, end - 1)) * FNV_PRIME;
            double v;
            if (scanner_logp(self, block, kind, data, k, end, hash, &v))
                goto done;
            if (v < 0.0) { /* a word */
                v += route_p[end];
                if (v >= best_p) {
                    best_p = v;
                    best_x = end - 1;
                }
            } else if (v == NO_PREFIX) {
                break;
            }
            if (end == n)
                break;
        }
        if (best_p == -INFINITY)
            best_p = unknown + route_p[k + 1];
        route_p[k] = best_p;
        route_x[k] = best_x;
    }
    out = words_of_route(block, kind, data, n, route_x);
done:
    PyMem_Free(route_p);
    PyMem_Free(route_x);
    return out;
}

static PyObject *
scanner_clear(Scanner *self, PyObject *Py_UNUSED(ignored))
{
    scanner_clear_slots(self);
    Py_RETURN_NONE;
}

static PyObject *
scanner_len(Scanner *self, PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromSsize_t(self->used);
}

static PyMethodDef scanner_methods[] = {
    {"cut", (PyCFunction)scanner_cut, METH_O, "cut(block) -> words of one block of Han/ASCII text"},
    {"clear", (PyCFunction)scanner_clear, METH_NOARGS, "forget the memoized log-probabilities"},
    {"memo_size", (PyCFunction)scanner_len, METH_NOARGS, "how many fragments the memo holds"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sentiment._dag.Scanner",
    .tp_doc = "Scanner(freq, logtotal, memo_limit): jieba's DAG scan over one dictionary, memo in C",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)scanner_init,
    .tp_dealloc = (destructor)scanner_dealloc,
    .tp_methods = scanner_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dag", NULL, -1, NULL};

PyMODINIT_FUNC
PyInit__dag(void)
{
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) {
        Py_DECREF(&ScannerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
