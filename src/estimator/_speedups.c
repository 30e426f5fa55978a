/* Two steps of a one-house request that Python makes slow, compiled.
 *
 * On a busy server each call into NumPy costs microseconds of dispatch
 * whose code has to come back into cache on every request, and a loop of
 * Python comparisons over a house's values costs a few more. For the
 * service's commonest request, one house, these were most of its time.
 *
 *   net = pack(weights, biases, activations)   # once per loaded version
 *   price = forward(net, values)                # a tuple of numbers, in input order
 *
 *   limits = bounds(low, high, whole)           # once per loaded version
 *   plain(values, limits)                       # every value an int or float (not a bool),
 *                                               # within [low, high], whole where marked
 *
 * For `pack`, `weights[k]` is C-contiguous float64 of shape (inputs,
 * outputs) (anything with the buffer protocol), `biases[k]` float64 of
 * shape (outputs,), and `activations[k]` an activation code (the order of
 * ACTIVATIONS in models/mlp.py) for every layer but the last, which is
 * linear and has one output. Without a C compiler the package installs
 * without this module, and NumPy and Python do the same work, slower.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WIDTH 1024 /* wider layers are left to NumPy */
#define NET "estimator._speedups.Net"
#define LIMITS "estimator._speedups.Limits"

enum { RELU, TANH, SIGMOID, ELU, SELU, GELU, LEAKY_RELU, LINEAR, N_ACTIVATIONS };

typedef struct {
    Py_ssize_t layers;
    Py_ssize_t *widths; /* layers + 1 entries: inputs, then each layer's outputs */
    int *activations;   /* one per layer; the last is LINEAR */
    double *params;     /* per layer: weights (inputs x outputs, row-major), then biases */
} Net;

static double activate(int how, double x) {
    switch (how) {
    case RELU: return x > 0.0 ? x : 0.0;
    case TANH: return tanh(x);
    case SIGMOID: return 1.0 / (1.0 + exp(-x));
    case ELU: return x > 0.0 ? x : expm1(x);
    case SELU: return 1.0507009873554805 * (x > 0.0 ? x : 1.6732632423543772 * expm1(x));
    case GELU: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case LEAKY_RELU: return x > 0.0 ? x : 0.01 * x;
    default: return x;
    }
}

/* out = in . w + bias, with `w` row-major (rows x cols): rows of w stream through out. */
static void layer(const double *restrict in, const double *restrict w,
                  const double *restrict bias, Py_ssize_t rows, Py_ssize_t cols,
                  double *restrict out) {
    memcpy(out, bias, cols * sizeof(double));
    for (Py_ssize_t i = 0; i < rows; i++) {
        const double x = in[i], *row = w + i * cols;
        for (Py_ssize_t j = 0; j < cols; j++) out[j] += x * row[j];
    }
}

static void net_release(Net *net) {
    free(net->widths);
    free(net->activations);
    free(net->params);
    free(net);
}

static void net_free(PyObject *capsule) {
    Net *net = PyCapsule_GetPointer(capsule, NET);
    if (net != NULL) net_release(net);
}

/* Copies a float64 buffer of `count` values to `out`; 0 on success. */
static int copy_doubles(PyObject *obj, Py_ssize_t count, double *out, const char *what) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    int ok = view.itemsize == sizeof(double) && view.format != NULL
             && strcmp(view.format, "d") == 0 && view.len == count * (Py_ssize_t)sizeof(double);
    if (ok) memcpy(out, view.buf, view.len);
    else PyErr_Format(PyExc_ValueError, "%s must be C-contiguous float64 with %zd values",
                      what, count);
    PyBuffer_Release(&view);
    return ok ? 0 : -1;
}

static PyObject *pack(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *weights, *biases, *activations;
    if (!PyArg_ParseTuple(args, "O!O!O!:pack", &PyList_Type, &weights, &PyList_Type, &biases,
                          &PyList_Type, &activations))
        return NULL;
    Py_ssize_t layers = PyList_GET_SIZE(weights);
    if (layers < 1 || PyList_GET_SIZE(biases) != layers
        || PyList_GET_SIZE(activations) != layers - 1) {
        PyErr_SetString(PyExc_ValueError, "pack takes a weight and a bias per layer and an "
                                          "activation per hidden layer");
        return NULL;
    }
    Net *net = calloc(1, sizeof(Net));
    if (net == NULL) return PyErr_NoMemory();
    net->layers = layers;
    net->widths = calloc(layers + 1, sizeof(Py_ssize_t));
    net->activations = calloc(layers, sizeof(int));
    Py_ssize_t total = 0;
    PyObject *capsule = NULL;
    if (net->widths == NULL || net->activations == NULL) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t k = 0; k < layers; k++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PyList_GET_ITEM(weights, k), &view, PyBUF_ND) < 0) goto fail;
        int two_d = view.ndim == 2;
        Py_ssize_t rows = two_d ? view.shape[0] : 0, cols = two_d ? view.shape[1] : 0;
        PyBuffer_Release(&view);
        if (!two_d || rows < 1 || cols < 1 || cols > MAX_WIDTH || rows > MAX_WIDTH
            || (k > 0 && rows != net->widths[k]) || (k == layers - 1 && cols != 1)) {
            PyErr_SetString(PyExc_ValueError, "the layers' shapes do not chain to one output, "
                                              "or a layer is wider than this kernel takes");
            goto fail;
        }
        net->widths[k] = rows;
        net->widths[k + 1] = cols;
        total += rows * cols + cols;
        if (k < layers - 1) {
            long how = PyLong_AsLong(PyList_GET_ITEM(activations, k));
            if (how == -1 && PyErr_Occurred()) goto fail;
            if (how < 0 || how >= N_ACTIVATIONS) {
                PyErr_Format(PyExc_ValueError, "unknown activation code %ld", how);
                goto fail;
            }
            net->activations[k] = (int)how;
        } else {
            net->activations[k] = LINEAR;
        }
    }
    net->params = malloc(total * sizeof(double));
    if (net->params == NULL) { PyErr_NoMemory(); goto fail; }
    double *p = net->params;
    for (Py_ssize_t k = 0; k < layers; k++) {
        Py_ssize_t rows = net->widths[k], cols = net->widths[k + 1];
        if (copy_doubles(PyList_GET_ITEM(weights, k), rows * cols, p, "a weight matrix") < 0)
            goto fail;
        p += rows * cols;
        if (copy_doubles(PyList_GET_ITEM(biases, k), cols, p, "a bias vector") < 0) goto fail;
        p += cols;
    }
    capsule = PyCapsule_New(net, NET, net_free);
    if (capsule != NULL) return capsule;
fail:
    net_release(net);
    return NULL;
}

static PyObject *forward(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "forward takes a packed network and a tuple of values");
        return NULL;
    }
    Net *net = PyCapsule_GetPointer(args[0], NET);
    if (net == NULL) return NULL;
    PyObject *values = args[1];
    if (!PyTuple_Check(values) || PyTuple_GET_SIZE(values) != net->widths[0]) {
        PyErr_Format(PyExc_TypeError, "forward takes a tuple of %zd values", net->widths[0]);
        return NULL;
    }
    double a[MAX_WIDTH], b[MAX_WIDTH];
    double *in = a, *out = b;
    for (Py_ssize_t i = 0; i < net->widths[0]; i++) {
        in[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(values, i));
        if (in[i] == -1.0 && PyErr_Occurred()) return NULL;
    }
    const double *p = net->params;
    for (Py_ssize_t k = 0; k < net->layers; k++) {
        Py_ssize_t rows = net->widths[k], cols = net->widths[k + 1];
        const double *w = p, *bias = p + rows * cols;
        layer(in, w, bias, rows, cols, out);
        int how = net->activations[k];
        if (how != LINEAR)
            for (Py_ssize_t j = 0; j < cols; j++) out[j] = activate(how, out[j]);
        p = bias + cols;
        double *swap = in;
        in = out;
        out = swap;
    }
    return PyFloat_FromDouble(in[0]);
}

typedef struct {
    Py_ssize_t width;
    double *low, *high; /* width entries each */
    char *whole;        /* width flags: the value must be a whole number */
} Limits;

static void limits_release(Limits *limits) {
    free(limits->low);
    free(limits->high);
    free(limits->whole);
    free(limits);
}

static void limits_free(PyObject *capsule) {
    Limits *limits = PyCapsule_GetPointer(capsule, LIMITS);
    if (limits != NULL) limits_release(limits);
}

static PyObject *bounds(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *low, *high, *whole;
    if (!PyArg_ParseTuple(args, "O!O!O!:bounds", &PyTuple_Type, &low, &PyTuple_Type, &high,
                          &PyTuple_Type, &whole))
        return NULL;
    Py_ssize_t width = PyTuple_GET_SIZE(low);
    if (PyTuple_GET_SIZE(high) != width || PyTuple_GET_SIZE(whole) != width) {
        PyErr_SetString(PyExc_ValueError, "bounds takes as many highs and whole-number flags "
                                          "as lows");
        return NULL;
    }
    Limits *limits = calloc(1, sizeof(Limits));
    if (limits == NULL) return PyErr_NoMemory();
    limits->width = width;
    limits->low = malloc((width + 1) * sizeof(double));
    limits->high = malloc((width + 1) * sizeof(double));
    limits->whole = malloc(width + 1);
    PyObject *capsule = NULL;
    if (limits->low == NULL || limits->high == NULL || limits->whole == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < width; i++) {
        limits->low[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(low, i));
        if (limits->low[i] == -1.0 && PyErr_Occurred()) goto fail;
        limits->high[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(high, i));
        if (limits->high[i] == -1.0 && PyErr_Occurred()) goto fail;
        int flag = PyObject_IsTrue(PyTuple_GET_ITEM(whole, i));
        if (flag < 0) goto fail;
        limits->whole[i] = (char)flag;
    }
    capsule = PyCapsule_New(limits, LIMITS, limits_free);
    if (capsule != NULL) return capsule;
fail:
    limits_release(limits);
    return NULL;
}

/* Whether every value is an int or a float (a bool is not), finite, within its bounds, and
 * whole where it must be: the values the service's strict request type would take as they
 * are, and near enough the training range to need no warning. */
static PyObject *plain(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "plain takes a tuple of values and bounds");
        return NULL;
    }
    PyObject *values = args[0];
    Limits *limits = PyCapsule_GetPointer(args[1], LIMITS);
    if (limits == NULL) return NULL;
    if (!PyTuple_Check(values) || PyTuple_GET_SIZE(values) != limits->width) Py_RETURN_FALSE;
    for (Py_ssize_t i = 0; i < limits->width; i++) {
        PyObject *item = PyTuple_GET_ITEM(values, i);
        double x;
        if (PyFloat_CheckExact(item)) {
            x = PyFloat_AS_DOUBLE(item);
        } else if (PyLong_CheckExact(item)) {
            x = PyLong_AsDouble(item);
            if (x == -1.0 && PyErr_Occurred()) { /* beyond a float's range: not plain */
                PyErr_Clear();
                Py_RETURN_FALSE;
            }
        } else {
            Py_RETURN_FALSE;
        }
        if (!(limits->low[i] <= x && x <= limits->high[i])) Py_RETURN_FALSE; /* NaN too */
        if (limits->whole[i] && x != floor(x)) Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"pack", pack, METH_VARARGS, "A network's layers, copied into one block for `forward`."},
    {"forward", (PyCFunction)(void (*)(void))forward, METH_FASTCALL,
     "The output of a packed network for one tuple of input values."},
    {"bounds", bounds, METH_VARARGS, "Per-value bounds and whole-number flags for `plain`."},
    {"plain", (PyCFunction)(void (*)(void))plain, METH_FASTCALL,
     "Whether every value is a number within its bounds, whole where it must be."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "Compiled steps of a one-house request.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
