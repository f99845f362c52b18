/* The record hot path in C: deterministic CBOR (RFC 8949 §4.2.1) for record payloads and
 * bodies, body validation against a compiled record type, the COSE_Sign1 byte layout and the
 * record's SHA-256; and, built from those, making a whole record (make, chain_make) and
 * verifying one with its disclosures (verify) in one call each. Signatures stay libsodium's:
 * these functions call PyNaCl's bindings, which they are handed.
 *
 * This module is an accelerator, never an authority. Every function either returns exactly
 * what the pure-Python reference in record.py / cose.py / record_types.py would return, or
 * raises ``Unsupported`` — for bad input and for anything unusual (tags, bignums, subclasses,
 * extension labels, deep nesting) alike — and the caller then runs the reference, which
 * accepts the input or names precisely what is wrong with it. So error messages live in one
 * place, and a differential test (tests/proto/test_native.py) checks that the fast path never
 * accepts what the reference refuses and never differs where both accept.
 */
#define PY_SSIZE_T_CLEAN
/* OpenSSL 3 deprecates its low-level SHA256_* calls in favour of EVP, whose digests (and the
 * one-shot SHA256(), now built on EVP_Q_digest) fetch the algorithm from a provider and
 * allocate a context per call: several times the hashing itself for a record-sized input.
 * The low-level calls go straight to the same assembly (SHA-NI where the CPU has it). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

static PyObject *Unsupported;

#define MAX_NAME_BYTES 64
#define HASH_BYTES 32
/* cbor2 refuses containers nested deeper than 12 in a payload; stay well inside that, so
 * the fast path can never accept what the reference decoder refuses. */
#define MAX_PAYLOAD_NESTING 10
#define MAX_BODY_DEPTH 8 /* record_types.MAX_BODY_DEPTH */
#define MAX_ENCODE_NESTING 32

static PyObject *unsupported(void) {
    PyErr_SetNone(Unsupported);
    return NULL;
}

/* ---- output buffer --------------------------------------------------------------------- */

typedef struct {
    char *data;
    Py_ssize_t len, cap;
    char inline_space[1024];
} Buf;

static void buf_init(Buf *b) {
    b->data = b->inline_space;
    b->len = 0;
    b->cap = sizeof(b->inline_space);
}

static void buf_free(Buf *b) {
    if (b->data != b->inline_space) PyMem_Free(b->data);
}

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) return 0;
    Py_ssize_t cap = b->cap * 2;
    while (cap < b->len + extra) cap *= 2;
    char *data = PyMem_Malloc(cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(data, b->data, b->len);
    buf_free(b);
    b->data = data;
    b->cap = cap;
    return 0;
}

static inline int buf_put(Buf *b, const void *p, Py_ssize_t n) {
    if (b == NULL) return 0; /* validating only */
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* A CBOR head in the shortest form. */
static inline int put_head(Buf *b, int major, uint64_t v) {
    unsigned char h[9];
    int n;
    unsigned char mt = (unsigned char)(major << 5);
    if (v < 24) {
        h[0] = mt | (unsigned char)v;
        n = 1;
    } else if (v <= 0xFF) {
        h[0] = mt | 24;
        h[1] = (unsigned char)v;
        n = 2;
    } else if (v <= 0xFFFF) {
        h[0] = mt | 25;
        h[1] = (unsigned char)(v >> 8);
        h[2] = (unsigned char)v;
        n = 3;
    } else if (v <= 0xFFFFFFFFULL) {
        h[0] = mt | 26;
        for (int i = 0; i < 4; i++) h[1 + i] = (unsigned char)(v >> (24 - 8 * i));
        n = 5;
    } else {
        h[0] = mt | 27;
        for (int i = 0; i < 8; i++) h[1 + i] = (unsigned char)(v >> (56 - 8 * i));
        n = 9;
    }
    return buf_put(b, h, n);
}

static PyObject *buf_to_bytes(Buf *b) {
    PyObject *out = PyBytes_FromStringAndSize(b->data, b->len);
    buf_free(b);
    return out;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* The shortest float that keeps the value (f16, f32, f64), NaN and infinities as f16 — as
 * cbor2's canonical encoder writes them. */
static int put_float(Buf *b, double d) {
    unsigned char out[9];
    if (d != d) return buf_put(b, "\xf9\x7e\x00", 3);
    unsigned char half[2], single[4];
    if (PyFloat_Pack2(d, (char *)half, 0) == 0) {
        if (PyFloat_Unpack2((const char *)half, 0) == d) {
            out[0] = 0xf9;
            memcpy(out + 1, half, 2);
            return buf_put(b, out, 3);
        }
    } else {
        PyErr_Clear(); /* out of f16 range */
    }
    if (PyFloat_Pack4(d, (char *)single, 0) == 0) {
        if (PyFloat_Unpack4((const char *)single, 0) == d) {
            out[0] = 0xfa;
            memcpy(out + 1, single, 4);
            return buf_put(b, out, 5);
        }
    } else {
        PyErr_Clear();
    }
    out[0] = 0xfb;
    if (PyFloat_Pack8(d, (char *)out + 1, 0) < 0) return -1;
    return buf_put(b, out, 9);
}

static int put_int(Buf *b, PyObject *v) {
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (n == -1 && PyErr_Occurred()) return -1;
    if (overflow == 0) {
        return n >= 0 ? put_head(b, 0, (uint64_t)n) : put_head(b, 1, (uint64_t)(-1 - n));
    }
    PyObject *magnitude = overflow > 0 ? (Py_INCREF(v), v) : PyNumber_Invert(v); /* ~n = -1-n */
    if (magnitude == NULL) return -1;
    unsigned long long u = PyLong_AsUnsignedLongLong(magnitude);
    Py_DECREF(magnitude);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        unsupported(); /* a bignum: cbor2 writes a tag */
        return -1;
    }
    return put_head(b, overflow > 0 ? 0 : 1, u);
}

static int put_text(Buf *b, PyObject *s) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (p == NULL) { /* lone surrogates */
        PyErr_Clear();
        unsupported();
        return -1;
    }
    if (put_head(b, 3, (uint64_t)n) < 0) return -1;
    return buf_put(b, p, n);
}

typedef struct {
    const char *key;
    Py_ssize_t len;
    PyObject *value;
    int body_depth; /* record_types' depth of the value, 0 when not checking */
} Entry;

/* Bytewise order of the encoded text keys = shorter first, then bytewise. */
static inline int entry_cmp(const Entry *x, const Entry *y) {
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return memcmp(x->key, y->key, x->len);
}

/* Body rules (record_types.check_body_values): what a container field may hold. body_depth
 * is the depth record_types counts (a field's value is 1); 0 means "not checking". */
static int put_value(Buf *b, PyObject *v, int nesting, int body_depth);
static int check_field(PyObject *fields, PyObject *name, PyObject *value, int *body_depth,
                       Py_ssize_t *present);

/* A map with text keys in deterministic order. With *fields* (a compiled record type), the
 * map is a body: each field is validated on the way (check_field), in the same walk. */
static int put_map(Buf *b, PyObject *d, int nesting, int body_depth, PyObject *fields,
                   Py_ssize_t *present) {
    Py_ssize_t n = PyDict_GET_SIZE(d);
    Entry small[32];
    Entry *entries = n <= 32 ? small : PyMem_Malloc(sizeof(Entry) * (size_t)n);
    if (entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    int rc = 0;
    while (PyDict_Next(d, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            unsupported();
            rc = -1;
            goto done;
        }
        entries[i].key = PyUnicode_AsUTF8AndSize(key, &entries[i].len);
        if (entries[i].key == NULL) {
            PyErr_Clear();
            unsupported();
            rc = -1;
            goto done;
        }
        entries[i].value = value;
        entries[i].body_depth = body_depth ? body_depth + 1 : 0;
        if (fields != NULL &&
            check_field(fields, key, value, &entries[i].body_depth, present) < 0) {
            rc = -1;
            goto done;
        }
        i++;
    }
    /* insertion sort: a body has a dozen keys, and this avoids qsort's indirect calls */
    for (Py_ssize_t j = 1; j < n; j++) {
        Entry e = entries[j];
        Py_ssize_t k = j - 1;
        while (k >= 0 && entry_cmp(&entries[k], &e) > 0) {
            entries[k + 1] = entries[k];
            k--;
        }
        entries[k + 1] = e;
    }
    if (put_head(b, 5, (uint64_t)n) < 0) {
        rc = -1;
        goto done;
    }
    for (i = 0; i < n; i++) {
        if (put_head(b, 3, (uint64_t)entries[i].len) < 0 ||
            buf_put(b, entries[i].key, entries[i].len) < 0 ||
            put_value(b, entries[i].value, nesting + 1, entries[i].body_depth) < 0) {
            rc = -1;
            goto done;
        }
    }
done:
    if (entries != small) PyMem_Free(entries);
    return rc;
}

static int put_value(Buf *b, PyObject *v, int nesting, int body_depth) {
    if (nesting > MAX_ENCODE_NESTING || body_depth > MAX_BODY_DEPTH) {
        unsupported();
        return -1;
    }
    if (v == Py_None) return buf_put(b, "\xf6", 1);
    if (v == Py_True) return buf_put(b, "\xf5", 1);
    if (v == Py_False) return buf_put(b, "\xf4", 1);
    if (PyUnicode_CheckExact(v)) return put_text(b, v);
    if (PyLong_CheckExact(v)) return put_int(b, v);
    if (PyFloat_CheckExact(v)) return put_float(b, PyFloat_AS_DOUBLE(v));
    if (PyBytes_CheckExact(v)) {
        if (put_head(b, 2, (uint64_t)PyBytes_GET_SIZE(v)) < 0) return -1;
        return buf_put(b, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    }
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        if (put_head(b, 4, (uint64_t)n) < 0) return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            /* no Python code runs in this loop, so the list cannot change length under it */
            if (put_value(b, PySequence_Fast_GET_ITEM(v, i), nesting + 1,
                          body_depth ? body_depth + 1 : 0) < 0)
                return -1;
        }
        return 0;
    }
    if (PyDict_CheckExact(v)) return put_map(b, v, nesting, body_depth, NULL, NULL);
    unsupported(); /* subclasses, enums, tags, sets …: the reference decides */
    return -1;
}

/* encode(value) -> bytes: the deterministic encoding cbor2.dumps(value, canonical=True) gives. */
static PyObject *py_encode(PyObject *self, PyObject *value) {
    Buf b;
    buf_init(&b);
    if (put_value(&b, value, 0, 0) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_to_bytes(&b);
}

/* ---- body validation ---------------------------------------------------------------------- */

enum Kind { K_TEXT, K_UINT, K_INT, K_NUMBER, K_BOOL, K_BYTES, K_DATE, K_LIST, K_MAP, K_ANY };

static int is_date(PyObject *v) {
    if (!PyUnicode_CheckExact(v) || PyUnicode_GET_LENGTH(v) != 10) return 0;
    int kind = PyUnicode_KIND(v);
    const void *data = PyUnicode_DATA(v);
    for (Py_ssize_t i = 0; i < 10; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (i == 4 || i == 7) {
            if (c != '-') return 0;
        } else if (c < '0' || c > '9') {
            return 0;
        }
    }
    return 1;
}

static int kind_holds(long kind, PyObject *v) {
    switch (kind) {
    case K_TEXT: return PyUnicode_CheckExact(v);
    case K_UINT: {
        if (!PyLong_CheckExact(v)) return 0;
        int overflow;
        long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (n == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        return overflow > 0 || (overflow == 0 && n >= 0);
    }
    case K_INT: return PyLong_CheckExact(v);
    case K_NUMBER: return PyFloat_CheckExact(v) || PyLong_CheckExact(v);
    case K_BOOL: return PyBool_Check(v);
    case K_BYTES: return PyBytes_CheckExact(v);
    case K_DATE: return is_date(v);
    case K_LIST: return PyList_CheckExact(v) || PyTuple_CheckExact(v);
    case K_MAP: return PyDict_CheckExact(v);
    case K_ANY: return 1;
    default: return 0;
    }
}

/* One body field against its compiled spec (kind, required, choices): the rules of
 * RecordType.validate_reference. Sets *body_depth to 1 for container kinds, whose values
 * check_body_values walks (put_value does, as it encodes them). */
static int check_field(PyObject *fields, PyObject *name, PyObject *value, int *body_depth,
                       Py_ssize_t *present) {
    PyObject *spec = PyDict_GetItemWithError(fields, name);
    if (spec == NULL) { /* an unknown field */
        if (!PyErr_Occurred()) unsupported();
        return -1;
    }
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    if (!kind_holds(kind, value)) {
        unsupported();
        return -1;
    }
    PyObject *choices = PyTuple_GET_ITEM(spec, 2);
    if (choices != Py_None) {
        int found = PySet_Contains(choices, value);
        if (found <= 0) {
            if (found < 0) PyErr_Clear();
            unsupported();
            return -1;
        }
    }
    *body_depth = (kind == K_LIST || kind == K_MAP || kind == K_ANY) ? 1 : 0;
    if (PyTuple_GET_ITEM(spec, 1) == Py_True) (*present)++;
    return 0;
}

/* Validate body against schema = (fields: {name: (kind, required, choices|None)},
 * required_count) while encoding it (b may be NULL: validate only). */
static int put_checked_body(Buf *b, PyObject *body, PyObject *schema) {
    if (!PyDict_CheckExact(body) || !PyTuple_CheckExact(schema) || PyTuple_GET_SIZE(schema) != 2 ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(schema, 0))) {
        unsupported();
        return -1;
    }
    Py_ssize_t required = PyLong_AsSsize_t(PyTuple_GET_ITEM(schema, 1));
    if (required == -1 && PyErr_Occurred()) return -1;
    Py_ssize_t present = 0;
    if (put_map(b, body, 0, 0, PyTuple_GET_ITEM(schema, 0), &present) < 0) return -1;
    if (present != required) {
        unsupported(); /* a required field is missing: the reference names it */
        return -1;
    }
    return 0;
}

/* check_body(body, schema) -> None: validate only. */
static PyObject *py_check_body(PyObject *self, PyObject *args) {
    PyObject *body, *schema;
    if (!PyArg_ParseTuple(args, "OO", &body, &schema)) return NULL;
    if (put_checked_body(NULL, body, schema) < 0) return NULL;
    Py_RETURN_NONE;
}

/* ---- the payload ------------------------------------------------------------------------- */

static int put_name(Buf *b, unsigned char label, PyObject *s, int limit) {
    if (!PyUnicode_CheckExact(s)) {
        unsupported();
        return -1;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (p == NULL) {
        PyErr_Clear();
        unsupported();
        return -1;
    }
    if (n == 0 || (limit && n > MAX_NAME_BYTES)) {
        unsupported();
        return -1;
    }
    if (buf_put(b, &label, 1) < 0 || put_head(b, 3, (uint64_t)n) < 0) return -1;
    return buf_put(b, p, n);
}

static int get_u64(PyObject *v, unsigned long long *out) {
    if (!PyLong_CheckExact(v)) return -1;
    *out = PyLong_AsUnsignedLongLong(v);
    if (*out == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return 0;
}

/* The payload map around an encoded body: the layout of record.encode_payload_reference.
 * args: node_id, seq, prev, time_ms, clock, record_type, agency, site, (body), digests. */
static int put_payload(Buf *b, PyObject *const *args, const char *body, Py_ssize_t body_len,
                       PyObject *digests) {
    PyObject *node = args[0], *seq = args[1], *prev = args[2], *time_ms = args[3],
             *clock = args[4], *rtype = args[5], *agency = args[6], *site = args[7];
    unsigned long long seq_v, time_v, clock_v;
    if (get_u64(seq, &seq_v) < 0 || seq_v < 1 || get_u64(time_ms, &time_v) < 0 ||
        get_u64(clock, &clock_v) < 0 || clock_v > 255 || !PyBytes_CheckExact(prev) ||
        PyBytes_GET_SIZE(prev) != HASH_BYTES ||
        !(PyList_CheckExact(digests) || PyTuple_CheckExact(digests))) {
        unsupported();
        return -1;
    }
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(digests);
    if (buf_put(b, "\xab\x01\x01", 3) < 0 || put_name(b, 2, node, 1) < 0 ||
        buf_put(b, "\x03", 1) < 0 || put_head(b, 0, seq_v) < 0 ||
        buf_put(b, "\x04\x58\x20", 3) < 0 || buf_put(b, PyBytes_AS_STRING(prev), HASH_BYTES) < 0 ||
        buf_put(b, "\x05", 1) < 0 || put_head(b, 0, time_v) < 0 ||
        buf_put(b, "\x06", 1) < 0 || put_head(b, 0, clock_v) < 0 ||
        put_name(b, 7, rtype, 1) < 0 || put_name(b, 8, agency, 0) < 0 ||
        put_name(b, 9, site, 1) < 0 || buf_put(b, "\x0a", 1) < 0 ||
        buf_put(b, body, body_len) < 0 || buf_put(b, "\x0b", 1) < 0 ||
        put_head(b, 4, (uint64_t)nd) < 0)
        return -1;
    for (Py_ssize_t i = 0; i < nd; i++) {
        PyObject *d = PySequence_Fast_GET_ITEM(digests, i);
        if (!PyBytes_CheckExact(d) || PyBytes_GET_SIZE(d) != HASH_BYTES) {
            unsupported();
            return -1;
        }
        if (buf_put(b, "\x58\x20", 2) < 0 || buf_put(b, PyBytes_AS_STRING(d), HASH_BYTES) < 0)
            return -1;
    }
    return 0;
}

/* payload(node_id, seq, prev, time_ms, clock, record_type, agency, site, body_bytes, digests)
 * -> the payload bytes of record.encode_payload, the body already encoded. */
static PyObject *py_payload(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "payload() takes 10 arguments");
        return NULL;
    }
    if (!PyBytes_CheckExact(args[8])) return unsupported();
    Buf b;
    buf_init(&b);
    if (put_payload(&b, args, PyBytes_AS_STRING(args[8]), PyBytes_GET_SIZE(args[8]), args[9]) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_to_bytes(&b);
}

static int put_bstr(Buf *b, const void *p, Py_ssize_t n) {
    if (put_head(b, 2, (uint64_t)n) < 0) return -1;
    return buf_put(b, p, n);
}

/* ["Signature1", protected, h'', payload]: the bytes a COSE_Sign1 signs (RFC 9052 §4.4). */
static int put_sig_structure(Buf *b, const void *prot, Py_ssize_t np, const void *payload,
                             Py_ssize_t nl) {
    if (buf_put(b, "\x84\x6aSignature1", 12) < 0 || put_bstr(b, prot, np) < 0 ||
        buf_put(b, "\x40", 1) < 0)
        return -1;
    return put_bstr(b, payload, nl);
}

/* 18([protected, {}, payload, signature]): the COSE_Sign1 shape borderlink writes. */
static int put_cose_sign1(Buf *b, const void *prot, Py_ssize_t np, const void *payload,
                          Py_ssize_t nl, const void *sig, Py_ssize_t ns) {
    if (buf_put(b, "\xd2\x84", 2) < 0 || put_bstr(b, prot, np) < 0 ||
        buf_put(b, "\xa0", 1) < 0 || put_bstr(b, payload, nl) < 0)
        return -1;
    return put_bstr(b, sig, ns);
}

static void sha256(const void *p, Py_ssize_t n, unsigned char out[SHA256_DIGEST_LENGTH]) {
    SHA256_CTX sha;
    SHA256_Init(&sha);
    SHA256_Update(&sha, p, (size_t)n);
    SHA256_Final(out, &sha);
}

/* An instance of a named tuple class (a tuple subtype without a __dict__), as
 * tuple.__new__(cls, items) makes it, without the class's Python-level __new__. */
static PyObject *new_named(PyObject *cls, PyObject *const *items, Py_ssize_t n) {
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "expected a named tuple class");
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *t = type->tp_alloc(type, n);
    if (t == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(items[i]);
        PyTuple_SET_ITEM(t, i, items[i]);
    }
    return t;
}

/* make(schema, body, digests, node_id, seq, prev, time_ms, clock, record_type, agency, site,
 *      protected, header, sign, disclosures, shapes) -> SignedRecord
 *
 * record._make's hot path in one call: validate the (signed) body against its type's compiled
 * schema, write the payload and the Sig_structure, sign it with sign(bytes) -> bytes, lay out
 * the COSE_Sign1, hash it, and build the Sign1Message, Record and SignedRecord exactly as the
 * Python path does. shapes = (Sign1Message, Record, SignedRecord, schema version, empty map,
 * largest record). Anything the reference would refuse raises Unsupported before signing. */
static PyObject *make_signed(PyObject *schema, PyObject *body, PyObject *digests,
                             PyObject *const *fields, PyObject *protected, PyObject *header,
                             PyObject *sign, PyObject *disclosures, PyObject *shapes) {
    /* fields: node_id, seq, prev, time_ms, clock, record_type, agency, site */
    if (!PyBytes_CheckExact(protected) || !PyTuple_CheckExact(shapes) ||
        PyTuple_GET_SIZE(shapes) != 6)
        return unsupported();
    Py_ssize_t max_bytes = PyLong_AsSsize_t(PyTuple_GET_ITEM(shapes, 5));
    if (max_bytes == -1 && PyErr_Occurred()) return NULL;
    Buf body_buf, payload, sig;
    buf_init(&body_buf);
    buf_init(&payload);
    buf_init(&sig);
    PyObject *out = NULL, *to_sign = NULL, *signature = NULL, *payload_obj = NULL,
             *raw = NULL, *hash = NULL, *digest_tuple = NULL, *message = NULL, *record = NULL;
    if (put_checked_body(&body_buf, body, schema) < 0 ||
        put_payload(&payload, fields, body_buf.data, body_buf.len, digests) < 0 ||
        put_sig_structure(&sig, PyBytes_AS_STRING(protected), PyBytes_GET_SIZE(protected),
                          payload.data, payload.len) < 0)
        goto done;
    if ((to_sign = PyBytes_FromStringAndSize(sig.data, sig.len)) == NULL) goto done;
    if ((signature = PyObject_CallOneArg(sign, to_sign)) == NULL) goto done;
    if (!PyBytes_CheckExact(signature)) {
        PyErr_SetString(PyExc_TypeError, "sign() must return bytes");
        goto done;
    }
    Buf *rb = &body_buf; /* reused for the record: the body is inside the payload now */
    rb->len = 0;
    if (put_cose_sign1(rb, PyBytes_AS_STRING(protected), PyBytes_GET_SIZE(protected), payload.data,
                       payload.len, PyBytes_AS_STRING(signature), PyBytes_GET_SIZE(signature)) < 0)
        goto done;
    if (rb->len > max_bytes) {
        unsupported(); /* over the limit: the reference says so */
        goto done;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    sha256(rb->data, rb->len, digest);
    if ((payload_obj = PyBytes_FromStringAndSize(payload.data, payload.len)) == NULL ||
        (raw = PyBytes_FromStringAndSize(rb->data, rb->len)) == NULL ||
        (hash = PyBytes_FromStringAndSize((const char *)digest, SHA256_DIGEST_LENGTH)) == NULL ||
        (digest_tuple = PySequence_Tuple(digests)) == NULL)
        goto done;
    PyObject *empty = PyTuple_GET_ITEM(shapes, 4);
    PyObject *message_items[6] = {protected, header, empty, payload_obj, signature, Py_True};
    if ((message = new_named(PyTuple_GET_ITEM(shapes, 0), message_items, 6)) == NULL) goto done;
    PyObject *record_items[14] = {
        raw, message, PyTuple_GET_ITEM(shapes, 3), fields[0], fields[1], fields[2], fields[3],
        fields[4], fields[5], fields[6], fields[7], body, digest_tuple, empty,
    };
    if ((record = new_named(PyTuple_GET_ITEM(shapes, 1), record_items, 14)) == NULL) goto done;
    PyObject *signed_items[3] = {record, disclosures, hash};
    out = new_named(PyTuple_GET_ITEM(shapes, 2), signed_items, 3);
done:
    Py_XDECREF(to_sign);
    Py_XDECREF(signature);
    Py_XDECREF(payload_obj);
    Py_XDECREF(raw);
    Py_XDECREF(hash);
    Py_XDECREF(digest_tuple);
    Py_XDECREF(message);
    Py_XDECREF(record);
    buf_free(&body_buf);
    buf_free(&payload);
    buf_free(&sig);
    return out;
}

static PyObject *py_make(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 16) {
        PyErr_SetString(PyExc_TypeError, "make() takes 16 arguments");
        return NULL;
    }
    return make_signed(args[0], args[1], args[2], args + 3, args[11], args[12], args[13],
                       args[14], args[15]);
}

/* chain_make(ctx, body, seq, prev, time_ms, clock) -> SignedRecord
 *
 * RecordChain.prepare's hot path: make() for a chain's record type, with what stays the same
 * from record to record prepared once in ctx = (schema, sensitive names, decoy slots,
 * node_id, record_type, agency, site, protected, header, sign, shapes, ready decoys, pool).
 * A body holding any sensitive field is Unsupported here (it needs disclosures: the Python
 * path conceals it); otherwise the body is copied, its type's decoy digests are taken from
 * the random pool's ready list (or the pool, when it is empty) and sorted, and make() runs. */
static PyObject *py_chain_make(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "chain_make() takes 6 arguments");
        return NULL;
    }
    PyObject *ctx = args[0], *body = args[1];
    if (!PyTuple_CheckExact(ctx) || PyTuple_GET_SIZE(ctx) != 13 || !PyDict_CheckExact(body))
        return unsupported();
    PyObject *sensitive = PyTuple_GET_ITEM(ctx, 1), *ready = PyTuple_GET_ITEM(ctx, 11),
             *pool = PyTuple_GET_ITEM(ctx, 12);
    if (!PyTuple_CheckExact(sensitive) || !PyList_CheckExact(ready)) return unsupported();
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(sensitive); i++) {
        int present = PyDict_Contains(body, PyTuple_GET_ITEM(sensitive, i));
        if (present < 0) return NULL;
        if (present) return unsupported();
    }
    Py_ssize_t slots = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, 2));
    if (slots < 0) return PyErr_Occurred() ? NULL : unsupported();
    PyObject *digests = PyList_New(slots), *copy = NULL, *out = NULL, *digest_tuple = NULL;
    if (digests == NULL) return NULL;
    for (Py_ssize_t i = 0; i < slots; i++) {
        PyObject *d;
        Py_ssize_t n = PyList_GET_SIZE(ready);
        if (n > 0) { /* list.pop(): atomic under the GIL, as RandomPool relies on */
            d = PyList_GET_ITEM(ready, n - 1);
            Py_INCREF(d);
            if (PyList_SetSlice(ready, n - 1, n, NULL) < 0) {
                Py_DECREF(d);
                goto done;
            }
        } else {
            PyObject *size = PyLong_FromLong(HASH_BYTES);
            if (size == NULL) goto done;
            d = PyObject_CallOneArg(pool, size);
            Py_DECREF(size);
            if (d == NULL) goto done;
        }
        PyList_SET_ITEM(digests, i, d);
    }
    if (slots > 1 && PyList_Sort(digests) < 0) goto done;
    if ((digest_tuple = PyList_AsTuple(digests)) == NULL) goto done;
    /* a copy: the record never changes when the caller's dict does */
    if ((copy = PyDict_Copy(body)) == NULL) goto done;
    PyObject *fields[8] = {
        PyTuple_GET_ITEM(ctx, 3), args[2], args[3], args[4], args[5],
        PyTuple_GET_ITEM(ctx, 4), PyTuple_GET_ITEM(ctx, 5), PyTuple_GET_ITEM(ctx, 6),
    };
    PyObject *no_disclosures = PyTuple_New(0);
    if (no_disclosures == NULL) goto done;
    out = make_signed(PyTuple_GET_ITEM(ctx, 0), copy, digest_tuple, fields,
                      PyTuple_GET_ITEM(ctx, 7), PyTuple_GET_ITEM(ctx, 8), PyTuple_GET_ITEM(ctx, 9),
                      no_disclosures, PyTuple_GET_ITEM(ctx, 10));
    Py_DECREF(no_disclosures);
done:
    Py_DECREF(digests);
    Py_XDECREF(digest_tuple);
    Py_XDECREF(copy);
    return out;
}

/* ---- strict decoding ----------------------------------------------------------------------- */

typedef struct {
    const unsigned char *p, *end;
} Reader;

/* The head at the reader: major type and argument, refusing anything but the shortest
 * definite form. Returns the major type or -1 (nothing set: the caller raises Unsupported). */
static int read_head(Reader *r, uint64_t *arg, int *info_out) {
    if (r->p >= r->end) return -1;
    unsigned char ib = *r->p++;
    int major = ib >> 5, info = ib & 0x1f;
    *info_out = info;
    if (info < 24) {
        *arg = (uint64_t)info;
        return major;
    }
    if (info > 27) return -1; /* indefinite or reserved */
    int width = 1 << (info - 24);
    if (r->end - r->p < width) return -1;
    uint64_t v = 0;
    for (int i = 0; i < width; i++) v = (v << 8) | r->p[i];
    r->p += width;
    if (major == 7) { /* floats: the width is the value's, checked by the caller */
        *arg = v;
        return major;
    }
    static const uint64_t least[4] = {24, 0x100, 0x10000, 0x100000000ULL};
    if (v < least[info - 24]) return -1; /* not the shortest form */
    *arg = v;
    return major;
}

static PyObject *read_value(Reader *r, int nesting);

static PyObject *read_text(Reader *r, uint64_t n) {
    if ((uint64_t)(r->end - r->p) < n) return unsupported();
    PyObject *s = PyUnicode_DecodeUTF8((const char *)r->p, (Py_ssize_t)n, NULL);
    if (s == NULL) {
        PyErr_Clear();
        return unsupported();
    }
    r->p += n;
    return s;
}

static PyObject *read_float(int info, uint64_t bits) {
    unsigned char raw[8];
    double d;
    if (info == 25) {
        raw[0] = (unsigned char)(bits >> 8);
        raw[1] = (unsigned char)bits;
        d = PyFloat_Unpack2((const char *)raw, 0);
        if (d != d && bits != 0x7e00) return unsupported(); /* NaN is written f97e00 only */
        return PyFloat_FromDouble(d);
    }
    if (info != 26 && info != 27) return unsupported(); /* simple values */
    if (info == 26) {
        for (int i = 0; i < 4; i++) raw[i] = (unsigned char)(bits >> (24 - 8 * i));
        d = PyFloat_Unpack4((const char *)raw, 0);
    } else {
        for (int i = 0; i < 8; i++) raw[i] = (unsigned char)(bits >> (56 - 8 * i));
        d = PyFloat_Unpack8((const char *)raw, 0);
    }
    if (d != d) return unsupported();
    /* Deterministic: a shorter float must not hold the same value. */
    Buf probe;
    buf_init(&probe);
    if (put_float(&probe, d) < 0) {
        buf_free(&probe);
        return NULL;
    }
    int shortest = probe.len == (info == 26 ? 5 : 9);
    buf_free(&probe);
    if (!shortest) return unsupported();
    return PyFloat_FromDouble(d);
}

static PyObject *read_map(Reader *r, uint64_t n, int nesting) {
    if (n > (uint64_t)(r->end - r->p)) return unsupported(); /* each entry is >= 2 bytes */
    PyObject *d = PyDict_New();
    if (d == NULL) return NULL;
    const unsigned char *last_key = NULL;
    Py_ssize_t last_len = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        int info;
        const unsigned char *key_start = r->p;
        if (read_head(r, &len, &info) != 3) goto unsupported;
        PyObject *key = read_text(r, len);
        if (key == NULL) goto fail;
        Py_ssize_t key_len = r->p - key_start;
        /* keys strictly increasing in bytewise order of their encodings: sorted, unique */
        if (last_key != NULL) {
            Py_ssize_t m = key_len < last_len ? key_len : last_len;
            int c = memcmp(last_key, key_start, (size_t)m);
            if (c > 0 || (c == 0 && last_len >= key_len)) {
                Py_DECREF(key);
                goto unsupported;
            }
        }
        last_key = key_start;
        last_len = key_len;
        PyObject *value = read_value(r, nesting + 1);
        if (value == NULL) {
            Py_DECREF(key);
            goto fail;
        }
        int rc = PyDict_SetItem(d, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0) goto fail;
    }
    return d;
unsupported:
    unsupported();
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *read_value(Reader *r, int nesting) {
    if (nesting > MAX_PAYLOAD_NESTING) return unsupported();
    uint64_t arg;
    int info;
    int major = read_head(r, &arg, &info);
    switch (major) {
    case 0: return PyLong_FromUnsignedLongLong(arg);
    case 1: {
        if (arg < (1ULL << 63)) return PyLong_FromLongLong(-1 - (long long)arg);
        PyObject *u = PyLong_FromUnsignedLongLong(arg);
        if (u == NULL) return NULL;
        PyObject *neg = PyNumber_Invert(u); /* -1 - arg */
        Py_DECREF(u);
        return neg;
    }
    case 2:
        if ((uint64_t)(r->end - r->p) < arg) return unsupported();
        r->p += arg;
        return PyBytes_FromStringAndSize((const char *)r->p - arg, (Py_ssize_t)arg);
    case 3: return read_text(r, arg);
    case 4: {
        if (arg > (uint64_t)(r->end - r->p)) return unsupported();
        PyObject *list = PyList_New((Py_ssize_t)arg);
        if (list == NULL) return NULL;
        for (uint64_t i = 0; i < arg; i++) {
            PyObject *item = read_value(r, nesting + 1);
            if (item == NULL) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, item);
        }
        return list;
    }
    case 5: return read_map(r, arg, nesting);
    case 7:
        if (info == 20) Py_RETURN_FALSE;
        if (info == 21) Py_RETURN_TRUE;
        if (info == 22) Py_RETURN_NONE;
        if (info >= 25) return read_float(info, arg);
        return unsupported(); /* undefined and other simple values */
    default: return unsupported(); /* tags, malformed heads */
    }
}

static int expect(Reader *r, const char *bytes, Py_ssize_t n) {
    if (r->end - r->p < n || memcmp(r->p, bytes, (size_t)n) != 0) return -1;
    r->p += n;
    return 0;
}

static PyObject *read_name(Reader *r, int limit) {
    uint64_t n;
    int info;
    if (read_head(r, &n, &info) != 3 || n == 0 || (limit && n > MAX_NAME_BYTES))
        return unsupported();
    return read_text(r, n);
}

static PyObject *read_uint(Reader *r) {
    uint64_t v;
    int info;
    if (read_head(r, &v, &info) != 0) return unsupported();
    return PyLong_FromUnsignedLongLong(v);
}

/* decode_payload(payload) -> (node, seq, prev, time_ms, clock, type, agency, site, body,
 * digests): a schema-1 payload with no extension labels, in deterministic encoding; anything
 * else raises Unsupported. */
static int decode_fields(const unsigned char *p, Py_ssize_t n, PyObject *f[10]) {
    Reader r = {p, p + n};
    uint64_t v;
    int info;
    if (expect(&r, "\xab\x01\x01\x02", 4) < 0) goto unsupported;
    if ((f[0] = read_name(&r, 1)) == NULL) goto fail;
    if (expect(&r, "\x03", 1) < 0 || (f[1] = read_uint(&r)) == NULL) goto fail_u;
    if (PyLong_AsUnsignedLongLong(f[1]) < 1) goto unsupported;
    if (expect(&r, "\x04\x58\x20", 3) < 0 || r.end - r.p < HASH_BYTES) goto unsupported;
    if ((f[2] = PyBytes_FromStringAndSize((const char *)r.p, HASH_BYTES)) == NULL) goto fail;
    r.p += HASH_BYTES;
    if (expect(&r, "\x05", 1) < 0 || (f[3] = read_uint(&r)) == NULL) goto fail_u;
    if (expect(&r, "\x06", 1) < 0 || (f[4] = read_uint(&r)) == NULL) goto fail_u;
    if (PyLong_AsUnsignedLongLong(f[4]) > 255) goto unsupported;
    if (expect(&r, "\x07", 1) < 0 || (f[5] = read_name(&r, 1)) == NULL) goto fail_u;
    if (expect(&r, "\x08", 1) < 0 || (f[6] = read_name(&r, 0)) == NULL) goto fail_u;
    if (expect(&r, "\x09", 1) < 0 || (f[7] = read_name(&r, 1)) == NULL) goto fail_u;
    if (expect(&r, "\x0a", 1) < 0) goto unsupported;
    {
        Reader head = r;
        if (read_head(&head, &v, &info) != 5) goto unsupported; /* the body is a map */
    }
    if ((f[8] = read_value(&r, 1)) == NULL) goto fail;
    if (expect(&r, "\x0b", 1) < 0 || read_head(&r, &v, &info) != 4) goto unsupported;
    if (v > (uint64_t)(r.end - r.p) / (2 + HASH_BYTES)) goto unsupported;
    if ((f[9] = PyTuple_New((Py_ssize_t)v)) == NULL) goto fail;
    for (uint64_t i = 0; i < v; i++) {
        if (expect(&r, "\x58\x20", 2) < 0) goto unsupported;
        PyObject *d = PyBytes_FromStringAndSize((const char *)r.p, HASH_BYTES);
        if (d == NULL) goto fail;
        r.p += HASH_BYTES;
        PyTuple_SET_ITEM(f[9], (Py_ssize_t)i, d);
    }
    if (r.p != r.end) goto unsupported; /* trailing bytes */
    return 0;
fail_u:
    if (!PyErr_Occurred()) unsupported();
    goto fail;
unsupported:
    unsupported();
fail:
    for (int i = 0; i < 10; i++) Py_CLEAR(f[i]);
    return -1;
}

static PyObject *py_decode_payload(PyObject *self, PyObject *arg) {
    if (!PyBytes_CheckExact(arg)) return unsupported();
    PyObject *f[10] = {NULL};
    if (decode_fields((const unsigned char *)PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg), f) < 0)
        return NULL;
    PyObject *out = PyTuple_New(10);
    if (out == NULL) {
        for (int i = 0; i < 10; i++) Py_DECREF(f[i]);
        return NULL;
    }
    for (int i = 0; i < 10; i++) PyTuple_SET_ITEM(out, i, f[i]);
    return out;
}

/* ---- COSE_Sign1 layout ------------------------------------------------------------------- */

/* sig_structure(protected, payload) -> ["Signature1", protected, h'', payload] (RFC 9052 §4.4). */
static PyObject *py_sig_structure(PyObject *self, PyObject *args) {
    const char *prot, *payload;
    Py_ssize_t np, nl;
    if (!PyArg_ParseTuple(args, "y#y#", &prot, &np, &payload, &nl)) return NULL;
    Buf b;
    buf_init(&b);
    if (put_sig_structure(&b, prot, np, payload, nl) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_to_bytes(&b);
}

/* sign1(protected, payload, signature) -> 18([protected, {}, payload, signature]). */
static PyObject *py_sign1(PyObject *self, PyObject *args) {
    const char *prot, *payload, *sig;
    Py_ssize_t np, nl, ns;
    if (!PyArg_ParseTuple(args, "y#y#y#", &prot, &np, &payload, &nl, &sig, &ns)) return NULL;
    Buf b;
    buf_init(&b);
    if (put_cose_sign1(&b, prot, np, payload, nl, sig, ns) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_to_bytes(&b);
}

static int read_bstr(Reader *r, const unsigned char **p, Py_ssize_t *n) {
    uint64_t len;
    int info;
    if (read_head(r, &len, &info) != 2 || (uint64_t)(r->end - r->p) < len) return -1;
    *p = r->p;
    *n = (Py_ssize_t)len;
    r->p += len;
    return 0;
}

typedef struct {
    const unsigned char *prot, *payload, *sig;
    Py_ssize_t np, nl, ns;
} Sign1Parts;

/* The parts of raw when it is 18([bstr, {}, bstr, bstr]) in shortest form with nothing
 * after, and signature || Sig_structure (what libsodium's crypto_sign_open takes) in
 * *signed_message; NULL without an error set when raw has another shape. */
static PyObject *split_common(PyObject *raw, Sign1Parts *s) {
    Reader r = {(const unsigned char *)PyBytes_AS_STRING(raw),
                (const unsigned char *)PyBytes_AS_STRING(raw) + PyBytes_GET_SIZE(raw)};
    if (expect(&r, "\xd2\x84", 2) < 0 || read_bstr(&r, &s->prot, &s->np) < 0 ||
        expect(&r, "\xa0", 1) < 0 || read_bstr(&r, &s->payload, &s->nl) < 0 ||
        read_bstr(&r, &s->sig, &s->ns) < 0 || r.p != r.end)
        return NULL;
    Buf b;
    buf_init(&b);
    if (buf_put(&b, s->sig, s->ns) < 0 ||
        put_sig_structure(&b, s->prot, s->np, s->payload, s->nl) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_to_bytes(&b);
}

/* split_sign1(raw) -> (protected, payload, signature, signature || Sig_structure) for the
 * shape borderlink writes, 18([bstr, {}, bstr, bstr]) in shortest form; None otherwise. The
 * last item is what libsodium's crypto_sign_open takes. */
static PyObject *py_split_sign1(PyObject *self, PyObject *arg) {
    if (!PyBytes_CheckExact(arg)) Py_RETURN_NONE;
    Sign1Parts s;
    PyObject *signed_message = split_common(arg, &s);
    if (signed_message == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(y#y#y#N)", s.prot, s.np, s.payload, s.nl, s.sig, s.ns, signed_message);
}

#define SALT_BYTES 16
#define MAX_DISCLOSURE_BYTES 8192 /* disclosure.MAX_DISCLOSURE_BYTES */

/* One disclosure, [salt, field, value] in deterministic encoding, checked against the
 * record's digests: the Disclosure named tuple, or -1 (Unsupported for anything unusual or
 * wrong; disclosure.reveal then decides). */
static PyObject *read_disclosure(PyObject *d, PyObject *digests, PyObject *cls) {
    if (!PyBytes_CheckExact(d) || PyBytes_GET_SIZE(d) > MAX_DISCLOSURE_BYTES) return unsupported();
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(d);
    Py_ssize_t n = PyBytes_GET_SIZE(d);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    sha256(p, n, digest);
    int signed_digest = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(digests); i++) {
        PyObject *g = PyTuple_GET_ITEM(digests, i);
        if (memcmp(PyBytes_AS_STRING(g), digest, SHA256_DIGEST_LENGTH) == 0) {
            signed_digest = 1;
            break;
        }
    }
    if (!signed_digest) return unsupported();
    Reader r = {p, p + n};
    if (expect(&r, "\x83\x50", 2) < 0 || r.end - r.p < SALT_BYTES) return unsupported();
    PyObject *items[4] = {d, NULL, NULL, NULL};
    PyObject *out = NULL;
    uint64_t len;
    int info;
    if ((items[1] = PyBytes_FromStringAndSize((const char *)r.p, SALT_BYTES)) == NULL) return NULL;
    r.p += SALT_BYTES;
    if (read_head(&r, &len, &info) != 3) {
        unsupported();
        goto done;
    }
    if ((items[2] = read_text(&r, len)) == NULL || (items[3] = read_value(&r, 1)) == NULL)
        goto done;
    if (r.p != r.end) {
        unsupported();
        goto done;
    }
    out = new_named(cls, items, 4);
done:
    Py_XDECREF(items[1]);
    Py_XDECREF(items[2]);
    Py_XDECREF(items[3]);
    return out;
}

/* verify(raw, public_key, ctx, disclosures) -> VerifiedRecord
 *
 * record.verify_record's hot path, in one call: the COSE_Sign1 split, the signature (ctx's
 * open, libsodium's crypto_sign_open through PyNaCl, over signature || Sig_structure), the
 * strict payload decode, each disclosure (bytes) against the signed digests, and for a known
 * type the sensitive-fields check and the body, disclosed values merged in. ctx = (the
 * protected header this key signs with, that header decoded, {record type: (schema,
 * sensitive names)} or None, open, (Sign1Message, Record, VerifiedRecord, schema version,
 * empty map, Disclosure), largest record). Anything else, a failed check included, is
 * Unsupported: the Python path runs and names the problem. */
static PyObject *py_verify(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "verify() takes 4 arguments");
        return NULL;
    }
    PyObject *raw = args[0], *public_key = args[1], *ctx = args[2], *given = args[3];
    if (!PyTuple_CheckExact(given) && !PyList_CheckExact(given)) return unsupported();
    if (!PyBytes_CheckExact(raw) || !PyTuple_CheckExact(ctx) || PyTuple_GET_SIZE(ctx) != 6)
        return unsupported();
    PyObject *expected = PyTuple_GET_ITEM(ctx, 0), *header = PyTuple_GET_ITEM(ctx, 1),
             *types = PyTuple_GET_ITEM(ctx, 2), *open = PyTuple_GET_ITEM(ctx, 3),
             *shapes = PyTuple_GET_ITEM(ctx, 4);
    Py_ssize_t max_bytes = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, 5));
    if (max_bytes == -1 && PyErr_Occurred()) return NULL;
    if (!PyBytes_CheckExact(expected) || !PyTuple_CheckExact(shapes) ||
        PyTuple_GET_SIZE(shapes) != 6 || PyBytes_GET_SIZE(raw) > max_bytes)
        return unsupported();
    Sign1Parts s;
    PyObject *signed_message = split_common(raw, &s);
    if (signed_message == NULL) return PyErr_Occurred() ? NULL : unsupported();
    if (s.ns != 64 || s.np != PyBytes_GET_SIZE(expected) ||
        memcmp(s.prot, PyBytes_AS_STRING(expected), s.np) != 0) {
        Py_DECREF(signed_message);
        return unsupported(); /* another shape, signer or header: the Python path */
    }
    const unsigned char *payload = s.payload, *sig = s.sig;
    Py_ssize_t nl = s.nl, ns = s.ns;
    PyObject *opened = PyObject_CallFunctionObjArgs(open, signed_message, public_key, NULL);
    Py_DECREF(signed_message);
    if (opened == NULL) { /* a bad signature (or key): the Python path says which */
        PyErr_Clear();
        return unsupported();
    }
    Py_DECREF(opened);
    PyObject *f[10] = {NULL};
    if (decode_fields(payload, nl, f) < 0) return NULL;
    PyObject *out = NULL, *payload_obj = NULL, *sig_obj = NULL, *message = NULL, *record = NULL,
             *disclosed = NULL, *merged = NULL;
    PyObject *spec = NULL, *body = f[8];
    if ((disclosed = PyDict_New()) == NULL) goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(given); i++) {
        PyObject *d = read_disclosure(PySequence_Fast_GET_ITEM(given, i), f[9],
                                      PyTuple_GET_ITEM(shapes, 5));
        if (d == NULL) goto done;
        PyObject *field = PyTuple_GET_ITEM(d, 2);
        /* a field disclosed twice, or both disclosed and in the clear: the reference says so */
        int twice = PyDict_Contains(disclosed, field), clear = PyDict_Contains(body, field);
        int failed = twice != 0 || clear != 0 || PyDict_SetItem(disclosed, field, d) < 0 ||
                     (merged == NULL && (merged = PyDict_Copy(body)) == NULL) ||
                     PyDict_SetItem(merged, field, PyTuple_GET_ITEM(d, 3)) < 0;
        if (failed && (twice > 0 || clear > 0)) unsupported();
        Py_DECREF(d);
        if (failed) goto done;
    }
    if (types != Py_None) {
        if (!PyDict_CheckExact(types)) {
            unsupported();
            goto done;
        }
        spec = PyDict_GetItemWithError(types, f[5]);
        if (spec == NULL && PyErr_Occurred()) goto done;
    }
    if (spec != NULL) { /* a known type: no sensitive field in the clear, and a valid body */
        PyObject *sensitive = PyTuple_GET_ITEM(spec, 1);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(sensitive); i++) {
            int present = PyDict_Contains(f[8], PyTuple_GET_ITEM(sensitive, i));
            if (present != 0) {
                if (present > 0) unsupported();
                goto done;
            }
        }
        if (put_checked_body(NULL, merged != NULL ? merged : body, PyTuple_GET_ITEM(spec, 0)) < 0)
            goto done;
    }
    if ((payload_obj = PyBytes_FromStringAndSize((const char *)payload, nl)) == NULL ||
        (sig_obj = PyBytes_FromStringAndSize((const char *)sig, ns)) == NULL)
        goto done;
    PyObject *empty = PyTuple_GET_ITEM(shapes, 4);
    PyObject *message_items[6] = {expected, header, empty, payload_obj, sig_obj, Py_True};
    if ((message = new_named(PyTuple_GET_ITEM(shapes, 0), message_items, 6)) == NULL) goto done;
    PyObject *record_items[14] = {
        raw, message, PyTuple_GET_ITEM(shapes, 3), f[0], f[1], f[2], f[3], f[4], f[5], f[6],
        f[7], f[8], f[9], empty,
    };
    if ((record = new_named(PyTuple_GET_ITEM(shapes, 1), record_items, 14)) == NULL) goto done;
    PyObject *verified_items[3] = {record, disclosed, spec != NULL ? Py_True : Py_False};
    out = new_named(PyTuple_GET_ITEM(shapes, 2), verified_items, 3);
done:
    for (int i = 0; i < 10; i++) Py_XDECREF(f[i]);
    Py_XDECREF(payload_obj);
    Py_XDECREF(sig_obj);
    Py_XDECREF(message);
    Py_XDECREF(record);
    Py_XDECREF(disclosed);
    Py_XDECREF(merged);
    return out;
}

static PyMethodDef methods[] = {
    {"encode", py_encode, METH_O, "Deterministic CBOR of a value (cbor2 canonical)."},
    {"check_body", py_check_body, METH_VARARGS, "Validate a body against a compiled type."},
    {"payload", (PyCFunction)(void (*)(void))py_payload, METH_FASTCALL,
     "A record payload from its fields."},
    {"make", (PyCFunction)(void (*)(void))py_make, METH_FASTCALL,
     "Validate, encode, sign and assemble a record in one call."},
    {"chain_make", (PyCFunction)(void (*)(void))py_chain_make, METH_FASTCALL,
     "make() for a chain's record type, from a prepared context."},
    {"decode_payload", py_decode_payload, METH_O, "Strictly decode a schema-1 payload."},
    {"sig_structure", py_sig_structure, METH_VARARGS, "The COSE_Sign1 Sig_structure bytes."},
    {"sign1", py_sign1, METH_VARARGS, "A tagged COSE_Sign1 from its parts."},
    {"verify", (PyCFunction)(void (*)(void))py_verify, METH_FASTCALL,
     "Verify a record without disclosures in one call."},
    {"split_sign1", py_split_sign1, METH_O, "The parts of a common-shape COSE_Sign1, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native",
    "The record hot path in C; an accelerator of the pure-Python reference, never an authority.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Unsupported = PyErr_NewException("borderlink.proto._native.Unsupported", NULL, NULL);
    if (Unsupported == NULL || PyModule_AddObjectRef(m, "Unsupported", Unsupported) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
