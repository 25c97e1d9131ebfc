/* monitor.match._fold: the text fold of monitor/match/normalise.py in one C pass.
 *
 * normalise.py defines the fold and stays the reference and the fallback; this
 * module computes exactly what its pure-Python fast path computes:
 *
 *   fold(text, one_line, want_scan) -> (cased, scan, (dropped, keys, origins))
 *
 *   cased  = fold_cased(text), with "\n" as " " if one_line
 *   scan   = f" {cased} ".lower() if want_scan, else None
 *   dropped, keys, origins: the segment map of `normalise.Offsets`, as native
 *            int64 arrays in bytes objects.
 *
 * How:
 *
 * 1. Translate: each code point of `text` becomes FOLD_TABLE[code point]
 *    (0..n characters) in a growable buffer, one byte per character until a
 *    character above 255 comes (most news never has one), four from then on.
 *    The Python mapping FOLD_TABLE is the definition; ASCII is copied into a
 *    table here by configure(), and the fold of every other BMP code point is
 *    cached in `cache` the first time it is seen (a code point that folds to
 *    2+ characters, and every astral code point, is looked up in FOLD_TABLE
 *    each time). Where a code point does not fold to exactly one character,
 *    the segment map gets its entries.
 * 2. The apostrophe rule (normalise._mark_apostrophes) and the dropping of the
 *    remaining "'" are applied while the buffer is copied into the two result
 *    strings, lower-casing for `scan` on the way (for 1-byte text: memcpy of
 *    the runs between apostrophes, and a vectorised lower-casing loop). The
 *    rule only reads the buffer, which is never modified, so it sees the
 *    translated text exactly as the reference regex does.
 *
 * Lower case: str.lower() maps every character on its own except capital
 * sigma (final or not depends on the neighbours) and U+0130 (two characters).
 * Folded text never holds U+0130, but if either turns up, `scan` is made by
 * calling str.lower() itself. For every other character Py_UNICODE_TOLOWER
 * (the first character of the full lower-case mapping) is str.lower().
 *
 * Memory: every size is checked before it is used; buffers grow by at least
 * 1.5x; any failure raises MemoryError. Lone surrogates and astral characters
 * are ordinary code points here (FOLD_TABLE says what they become).
 *
 * Threads: all state of a call is local except `cache`, whose entries are
 * written with the GIL held and always get the same value, so concurrent calls
 * (a FOLD_TABLE lookup may run Python code and switch threads) are safe.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifndef Py_ALWAYS_INLINE  /* Python < 3.11 */
#define Py_ALWAYS_INLINE
#endif

/* -- state set by configure() -------------------------------------------------------- */

/* cache[c] for a BMP code point c: its fold when that is one character, else one of: */
#define CACHE_SIZE 0x10000
#define UNKNOWN 0           /* not looked up yet (a fold to U+0000 is simply never cached) */
#define DELETED 0x110000    /* folds to "" */
#define EXPANDS 0x110001    /* folds to 2+ characters: look the string up in FOLD_TABLE */

static PyObject *fold_table = NULL;  /* strong reference to normalise.FOLD_TABLE */
static Py_UCS4 cache[CACHE_SIZE];
static Py_UCS4 ascii_fold[2][128];   /* [one_line][c]: FOLD_TABLE[c], "\n" -> " " if one_line */

/* The elided words of the apostrophe rule (normalise._ELIDED), lower-case ASCII. */
#define MAX_ELIDED 32
#define MAX_ELIDED_LEN 8
static char elided[MAX_ELIDED][MAX_ELIDED_LEN + 1];
static int n_elided = 0;
static Py_ssize_t longest_elided = 0;

/* Py_UNICODE_TOLOWER of U+0000..U+07FF (Latin, Greek, Cyrillic, Hebrew, Arabic),
 * set at import: saves a call into libpython per character of such text. */
#define LOWER_TABLE_SIZE 0x800
static Py_UCS4 lower_table[LOWER_TABLE_SIZE];

static inline Py_UCS4
lower_of(Py_UCS4 c)
{
    return c < LOWER_TABLE_SIZE ? lower_table[c] : Py_UNICODE_TOLOWER(c);
}

/* -- growable arrays ------------------------------------------------------------------ */

/* The translated text: one byte per character while every character is below
 * 256 (nearly all news: typographic quotes and dashes fold to ASCII), four
 * ("wide") from the first one that is not. */
typedef struct {
    void *items;            /* Py_UCS1[] or Py_UCS4[] */
    int wide;
    Py_ssize_t len, cap;    /* in characters */
} CharArray;

typedef struct {
    void *items;            /* int64_t[] (void * like CharArray, for reserve()) */
    Py_ssize_t len, cap;
} IntArray;

/* Make room for `extra` more items of `size` bytes after the first `len`.
 * Returns -1 with MemoryError set when that cannot be allocated or would overflow. */
static int
reserve(void **items, Py_ssize_t *cap, Py_ssize_t len, Py_ssize_t extra, size_t size)
{
    const Py_ssize_t most = PY_SSIZE_T_MAX / (Py_ssize_t)size;
    if (extra < 0 || len > most || extra > most - len) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = len + extra;
    if (need <= *cap) {
        return 0;
    }
    Py_ssize_t new_cap = *cap <= most - *cap / 2 ? *cap + *cap / 2 : most;
    if (new_cap < need) {
        new_cap = need;
    }
    if (new_cap < 16 && most >= 16) {
        new_cap = 16;
    }
    void *grown = PyMem_Realloc(*items, (size_t)new_cap * size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *items = grown;
    *cap = new_cap;
    return 0;
}

static int
reserve_chars(CharArray *a, Py_ssize_t extra)
{
    return reserve(&a->items, &a->cap, a->len, extra, a->wide ? sizeof(Py_UCS4) : sizeof(Py_UCS1));
}

/* Switch a narrow CharArray to 4 bytes per character, same length and capacity. */
static int
widen(CharArray *a)
{
    if (a->cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(Py_UCS4)) {
        PyErr_NoMemory();
        return -1;
    }
    Py_UCS4 *wide = PyMem_Malloc((size_t)(a->cap ? a->cap : 1) * sizeof(Py_UCS4));
    if (wide == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    const Py_UCS1 *narrow = a->items;
    for (Py_ssize_t k = 0; k < a->len; k++) {
        wide[k] = narrow[k];
    }
    PyMem_Free(a->items);
    a->items = wide;
    a->wide = 1;
    return 0;
}

static int
push_int(IntArray *a, int64_t value)
{
    if (a->len == a->cap && reserve(&a->items, &a->cap, a->len, 1, sizeof(int64_t)) < 0) {
        return -1;
    }
    ((int64_t *)a->items)[a->len++] = value;
    return 0;
}

/* A new bytes object holding the array's items (b"" when empty). */
static PyObject *
int_array_bytes(const IntArray *a)
{
    /* len <= PY_SSIZE_T_MAX / 8 by reserve(), so the product cannot overflow */
    return PyBytes_FromStringAndSize((const char *)a->items, a->len * (Py_ssize_t)sizeof(int64_t));
}

/* -- step 1: translate ---------------------------------------------------------------- */

typedef struct {
    int one_line;
    PyObject *table;       /* borrowed for the call (the caller holds a reference) */
    CharArray out;         /* the translated text */
    /* Offsets segment map in translated positions (normalise.Offsets._build): at
     * keys[k] starts a segment whose characters come from original index
     * origins[k] + (position - keys[k]), or all from ~origins[k] if negative. */
    IntArray keys, origins;
    Py_UCS4 max_cased;     /* largest non-ASCII code point written (0 if none) */
    Py_UCS4 max_lower;     /* largest lower case of those */
    int python_lower;      /* a character whose lower case needs str.lower() was written */
} Translation;

/* Append one folded character (below 256 unless the output is wide). The
 * caller has made room for it. */
static inline void
put_char(Translation *tr, Py_UCS4 f)
{
    if (f == '\n' && tr->one_line) {
        f = ' ';
    }
    if (tr->out.wide) {
        ((Py_UCS4 *)tr->out.items)[tr->out.len++] = f;
    }
    else {
        ((Py_UCS1 *)tr->out.items)[tr->out.len++] = (Py_UCS1)f;
    }
    if (f >= 0x80) {
        Py_UCS4 lower = lower_of(f);
        if (f > tr->max_cased) {
            tr->max_cased = f;
        }
        if (lower > tr->max_lower) {
            tr->max_lower = lower;
        }
        if (f == 0x3A3 || f == 0x130) {  /* capital sigma, capital I with dot above */
            tr->python_lower = 1;
        }
    }
}

/* The fold of `c` as the table gives it: a new reference to a str, or NULL with an error set. */
static PyObject *
table_fold(PyObject *table, Py_UCS4 c)
{
    PyObject *key = PyLong_FromUnsignedLong(c);
    if (key == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetItem(table, key);  /* may run FOLD_TABLE.__missing__ */
    Py_DECREF(key);
    if (value != NULL && !PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "FOLD_TABLE[%lu] is %.100s, not str", (unsigned long)c,
                     Py_TYPE(value)->tp_name);
        Py_CLEAR(value);
    }
    return value;
}

/* Note that the character at original index i folds to `size` characters,
 * starting at the current end of the output (normalise.Offsets._build). */
static int
note_resized(Translation *tr, Py_ssize_t i, Py_ssize_t size)
{
    Py_ssize_t at = tr->out.len;
    if (size > 0) {
        if (push_int(&tr->keys, at) < 0 || push_int(&tr->origins, ~(int64_t)i) < 0) {
            return -1;
        }
    }
    if (push_int(&tr->keys, (int64_t)at + size) < 0 || push_int(&tr->origins, (int64_t)i + 1) < 0) {
        return -1;
    }
    return 0;
}

#define NEEDS_WIDE 1

/* Fold a non-ASCII code point c at original index i of a text of n code points.
 * Returns 0, -1 on error, or NEEDS_WIDE (nothing done) if the output is narrow
 * and the fold has a character above 255.
 *
 * Room invariant (kept by every write): out.cap - out.len >= n - i, that is
 * one free item for this and each following code point, so the ASCII loop
 * never checks. Only a fold of 2+ characters has to make more room. */
static int
fold_other(Translation *tr, Py_UCS4 c, Py_ssize_t i, Py_ssize_t n)
{
    Py_UCS4 cached = c < CACHE_SIZE ? cache[c] : EXPANDS;
    if (cached != UNKNOWN && cached != EXPANDS) {
        if (cached == DELETED) {
            return note_resized(tr, i, 0);
        }
        if (cached > 0xFF && !tr->out.wide) {
            return NEEDS_WIDE;
        }
        put_char(tr, cached);
        return 0;
    }
    PyObject *folded = table_fold(tr->table, c);  /* new reference */
    if (folded == NULL) {
        return -1;
    }
    Py_ssize_t size = PyUnicode_GET_LENGTH(folded);
    int kind = PyUnicode_KIND(folded);
    const void *data = PyUnicode_DATA(folded);
    Py_UCS4 single = size == 1 ? PyUnicode_READ(kind, data, 0) : 0;
    if (c < CACHE_SIZE) {
        cache[c] = size == 0 ? DELETED : size == 1 ? single : EXPANDS;
    }
    int result = 0;
    if (kind != PyUnicode_1BYTE_KIND && !tr->out.wide) {
        result = NEEDS_WIDE;  /* str is canonical: a wider kind means a character above 255 */
    }
    else if (size == 1) {
        put_char(tr, single);
    }
    else if (note_resized(tr, i, size) < 0) {
        result = -1;
    }
    else if (size > 1) {
        /* size - 1 more than the invariant provides for this code point */
        if (reserve_chars(&tr->out, (n - i) + (size - 1)) < 0) {
            result = -1;
        }
        else {
            for (Py_ssize_t k = 0; k < size; k++) {
                put_char(tr, PyUnicode_READ(kind, data, k));
            }
        }
    }
    Py_DECREF(folded);
    return result;
}

/* The loop of translate_from() for one kind of text (CHAR_T) and of output (OUT_T). */
#define TRANSLATE_LOOP(CHAR_T, OUT_T)                                     \
    do {                                                                  \
        const CHAR_T *src = (const CHAR_T *)data;                         \
        OUT_T *out = (OUT_T *)tr->out.items;                              \
        Py_ssize_t len = tr->out.len;                                     \
        for (; i < n; i++) {                                              \
            Py_UCS4 c = src[i];                                           \
            if (c < 0x80) {                                               \
                out[len++] = (OUT_T)ascii[c];                             \
                continue;                                                 \
            }                                                             \
            tr->out.len = len;                                            \
            int done = fold_other(tr, c, i, n);                           \
            if (done != 0) {                                              \
                return done < 0 ? -1 : i;                                 \
            }                                                             \
            out = (OUT_T *)tr->out.items; /* may have moved */            \
            len = tr->out.len;                                            \
        }                                                                 \
        tr->out.len = len;                                                \
    } while (0)

/* Translate code points i..n-1 of `data` (a str's data of `kind`) onto tr->out.
 * Returns n when done, -1 on error, or (narrow output only) the index of the
 * first code point whose fold needs a wide output. */
static Py_ssize_t
translate_from(Translation *tr, const void *data, int kind, Py_ssize_t i, Py_ssize_t n)
{
    const Py_UCS4 *ascii = ascii_fold[tr->one_line];
    switch (kind + 8 * tr->out.wide) {
    case PyUnicode_1BYTE_KIND:
        TRANSLATE_LOOP(Py_UCS1, Py_UCS1);
        break;
    case PyUnicode_2BYTE_KIND:
        TRANSLATE_LOOP(Py_UCS2, Py_UCS1);
        break;
    case PyUnicode_4BYTE_KIND:
        TRANSLATE_LOOP(Py_UCS4, Py_UCS1);
        break;
    case PyUnicode_1BYTE_KIND + 8:
        TRANSLATE_LOOP(Py_UCS1, Py_UCS4);
        break;
    case PyUnicode_2BYTE_KIND + 8:
        TRANSLATE_LOOP(Py_UCS2, Py_UCS4);
        break;
    default:
        TRANSLATE_LOOP(Py_UCS4, Py_UCS4);
        break;
    }
    return n;
}

static int
translate(Translation *tr, PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    int kind = PyUnicode_KIND(text);
    if (reserve_chars(&tr->out, n) < 0) {
        return -1;
    }
    Py_ssize_t stop = translate_from(tr, data, kind, 0, n);
    if (stop >= 0 && stop < n) {  /* a character above 255: go on 4 bytes wide */
        if (widen(&tr->out) < 0) {
            return -1;
        }
        stop = translate_from(tr, data, kind, stop, n);
    }
    return stop < 0 ? -1 : 0;
}

/* -- step 2: apostrophes, lower case, result strings ---------------------------------- */

static inline int
is_alnum(Py_UCS4 c)
{
    return Py_UNICODE_ISALNUM(c);  /* what str.isalnum() tests for one character */
}

/* Is s[start:start+len] (len >= 1) an elided word, compared as str.lower() would?
 * Only ASCII letters lower-case to the letters of those words (checked in
 * tests/test_normalise.py). */
static int
is_elided(const void *s, int kind, Py_ssize_t start, Py_ssize_t len)
{
    char word[MAX_ELIDED_LEN + 1];
    if (len > longest_elided) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < len; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, s, start + k);
        if (c >= 'A' && c <= 'Z') {
            c += 'a' - 'A';
        }
        if (c < 'a' || c > 'z') {
            return 0;
        }
        word[k] = (char)c;
    }
    word[len] = '\0';
    for (int w = 0; w < n_elided; w++) {
        if (strcmp(word, elided[w]) == 0) {
            return 1;
        }
    }
    return 0;
}

enum apostrophe { DROP, ELISION, POSSESSIVE };

/* What normalise._mark_apostrophes does with the "'" at s[i] of the translated
 * text s[0:n] (of str kind `kind`): its regex matches "'s" (either case) when
 * no word character follows the s, else "'" alone.
 * ELISION: "l'EI" -> "l EI" (the "'" becomes a space); POSSESSIVE: "Kirkuk's"
 * -> "Kirkuk  " ("'s" become two spaces); DROP: the "'" goes. */
static enum apostrophe
apostrophe(const void *s, int kind, Py_ssize_t n, Py_ssize_t i)
{
#define AT(k) PyUnicode_READ(kind, s, (k))
    int with_s = i + 1 < n && (AT(i + 1) == 's' || AT(i + 1) == 'S')
                 && (i + 2 == n || !(is_alnum(AT(i + 2)) || AT(i + 2) == '_'));
    /* The word before (letters and digits back to the previous non-alnum);
     * walking back one past the longest elided word is enough to judge it. */
    Py_ssize_t start = i;
    while (start > 0 && i - start <= longest_elided && is_alnum(AT(start - 1))) {
        start--;
    }
    int whole_word = start == 0 || !is_alnum(AT(start - 1));
    int follows_letter = with_s || (i + 1 < n && is_alnum(AT(i + 1)));
    if (start < i && whole_word && follows_letter && is_elided(s, kind, start, i - start)) {
        return ELISION;
    }
    if (with_s && i > 0 && is_alnum(AT(i - 1))) {
        return POSSESSIVE;
    }
    return DROP;
#undef AT
}

/* Note the "'" at translated position t as dropped: the j-th one is noted as t - j. */
static int
note_dropped(IntArray *dropped, Py_ssize_t t)
{
    return push_int(dropped, (int64_t)t - dropped->len);
}

/* str.lower() of a Latin-1 character: A-Z and À-Þ but × are the capitals, 32
 * below their lower case (checked against Py_UNICODE_TOLOWER at import).
 * Arithmetic rather than a table lookup so that the compiler vectorises the
 * loop below (a lookup per byte was a third of the time of fold()). */
static inline Py_UCS1
latin1_lower_of(Py_UCS1 c)
{
    int capital = (Py_UCS1)(c - 'A') < 26 || ((Py_UCS1)(c - 0xC0) < 31 && c != 0xD7);
    return (Py_UCS1)(c + (capital << 5));
}

/* Copy the narrow translated text s[0:n] into 1-byte `cased` (from index 0)
 * and, unless NULL, its lower case into 1-byte `scan` (from index 1), applying
 * the apostrophe rule. Returns the number of characters written, or -1.
 * The common case: each run between apostrophes is a memcpy and a vectorised loop. */
static Py_ssize_t
copy_out_narrow(const Py_UCS1 *s, Py_ssize_t n, Py_UCS1 *cased, Py_UCS1 *scan, IntArray *dropped)
{
    Py_ssize_t t = 0, j = 0;
    while (t < n) {
        const Py_UCS1 *quote = memchr(s + t, '\'', (size_t)(n - t));
        Py_ssize_t run = (quote != NULL ? quote - s : n) - t;
        memcpy(cased + j, s + t, (size_t)run);
        if (scan != NULL) {
            Py_UCS1 *to = scan + 1 + j;
            const Py_UCS1 *from = s + t;
            for (Py_ssize_t k = 0; k < run; k++) {
                to[k] = latin1_lower_of(from[k]);
            }
        }
        j += run;
        t += run;
        if (quote == NULL) {
            break;
        }
        switch (apostrophe(s, PyUnicode_1BYTE_KIND, n, t)) {
        case DROP:
            if (note_dropped(dropped, t) < 0) {
                return -1;
            }
            t++;
            break;
        case ELISION:
            cased[j] = ' ';
            if (scan != NULL) {
                scan[j + 1] = ' ';
            }
            j++;
            t++;
            break;
        case POSSESSIVE:  /* the "'" and the "s" after it */
            cased[j] = cased[j + 1] = ' ';
            if (scan != NULL) {
                scan[j + 1] = scan[j + 2] = ' ';
            }
            j += 2;
            t += 2;
            break;
        }
    }
    return j;
}

/* copy_out_narrow() for any other case, one character at a time: `s` is of
 * kind s_kind, the strings of any kind; `keep_case`: copy into `scan` as is.
 * Inlined into make_strings() with constant kinds for wide text of the BMP
 * (Arabic, Cyrillic, Polish...), where PyUnicode_WRITE is then a plain store. */
static inline Py_ALWAYS_INLINE Py_ssize_t
copy_out(const void *s, int s_kind, Py_ssize_t n, int cased_kind, void *cased, int scan_kind,
         void *scan, int keep_case, IntArray *dropped)
{
    Py_ssize_t j = 0;
    for (Py_ssize_t t = 0; t < n; t++) {
        Py_UCS4 c = PyUnicode_READ(s_kind, s, t);
        if (c == '\'') {
            enum apostrophe rule = apostrophe(s, s_kind, n, t);
            if (rule == DROP) {
                if (note_dropped(dropped, t) < 0) {
                    return -1;
                }
                continue;
            }
            c = ' ';
            if (rule == POSSESSIVE) {  /* the "'" and the "s" after it */
                PyUnicode_WRITE(cased_kind, cased, j, ' ');
                if (scan != NULL) {
                    PyUnicode_WRITE(scan_kind, scan, j + 1, ' ');
                }
                j++;
                t++;
            }
        }
        PyUnicode_WRITE(cased_kind, cased, j, c);
        if (scan != NULL) {
            PyUnicode_WRITE(scan_kind, scan, j + 1, keep_case ? c : lower_of(c));
        }
        j++;
    }
    return j;
}

/* Shrink a fresh str to `length` characters (it was made for the most possible). */
static int
shrink(PyObject **str, Py_ssize_t length)
{
    return PyUnicode_GET_LENGTH(*str) == length ? 0 : PyUnicode_Resize(str, length);
}

/* Build (cased, scan or NULL) from the translation; `dropped` collects the dropped "'".
 * On success both are new references. */
static int
make_strings(const Translation *tr, int want_scan, PyObject **cased_out, PyObject **scan_out,
             IntArray *dropped)
{
    const Py_ssize_t n = tr->out.len;
    const int keep_case = tr->python_lower;  /* then `scan` gets str.lower() at the end */
    /* Exact maximum characters: the kind of a str must be the narrowest that fits.
     * Only "'" and "s" are dropped or replaced (by " "), so the non-ASCII
     * maximum is that of the translated text. */
    PyObject *cased = PyUnicode_New(n, tr->max_cased < 0x80 ? 0x7F : tr->max_cased);
    PyObject *scan = NULL;
    if (cased == NULL) {
        return -1;
    }
    if (want_scan) {
        Py_UCS4 max_scan = keep_case ? tr->max_cased : tr->max_lower;
        /* n <= PY_SSIZE_T_MAX / 4 here (the translation fit in memory), so n + 2 cannot overflow */
        scan = PyUnicode_New(n + 2, max_scan < 0x80 ? 0x7F : max_scan);
        if (scan == NULL) {
            Py_DECREF(cased);
            return -1;
        }
    }
    int scan_kind = scan ? PyUnicode_KIND(scan) : PyUnicode_1BYTE_KIND;
    void *scan_data = scan ? PyUnicode_DATA(scan) : NULL;
    Py_ssize_t written;
    if (!tr->out.wide && !keep_case) {
        /* every character below 256, and so their lower case (Latin-1 is closed under it) */
        written = copy_out_narrow(tr->out.items, n, PyUnicode_1BYTE_DATA(cased), scan_data, dropped);
    }
    else if (tr->out.wide && PyUnicode_KIND(cased) == PyUnicode_2BYTE_KIND && scan_kind == PyUnicode_2BYTE_KIND
             && !keep_case) {
        written = copy_out(tr->out.items, PyUnicode_4BYTE_KIND, n, PyUnicode_2BYTE_KIND, PyUnicode_DATA(cased),
                           PyUnicode_2BYTE_KIND, scan_data, 0, dropped);
    }
    else {  /* anything else: rare (astral letters, capital sigma) */
        written = copy_out(tr->out.items, tr->out.wide ? PyUnicode_4BYTE_KIND : PyUnicode_1BYTE_KIND, n,
                           PyUnicode_KIND(cased), PyUnicode_DATA(cased), scan_kind, scan_data, keep_case,
                           dropped);
    }
    if (written < 0) {
        goto error;
    }
    if (scan != NULL) {
        PyUnicode_WRITE(scan_kind, scan_data, 0, ' ');
        PyUnicode_WRITE(scan_kind, scan_data, written + 1, ' ');
    }
    /* Apostrophes were dropped: the strings were made too long. PyUnicode_Resize
     * may replace the object (it then releases the old one). */
    if (shrink(&cased, written) < 0 || (scan != NULL && shrink(&scan, written + 2) < 0)) {
        goto error;
    }
    if (keep_case && scan != NULL) {
        Py_SETREF(scan, PyObject_CallMethod(scan, "lower", NULL));
        if (scan == NULL) {
            goto error;
        }
    }
    *cased_out = cased;
    *scan_out = scan;
    return 0;
error:
    Py_XDECREF(cased);
    Py_XDECREF(scan);
    return -1;
}

/* -- Python functions ------------------------------------------------------------------ */

PyDoc_STRVAR(fold_doc,
"fold(text, one_line, want_scan) -> (cased, scan, (dropped, keys, origins))\n\
\n\
cased: normalise.fold_cased(text) (newlines as spaces if one_line).\n\
scan: f\" {cased} \".lower() if want_scan, else None.\n\
dropped, keys, origins: native int64 arrays (bytes) for normalise.Offsets.");

static PyObject *
fold(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "fold() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "fold() argument 1 must be str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {  /* legacy strings only; a no-op since 3.12 */
        return NULL;
    }
#endif
    int one_line = PyObject_IsTrue(args[1]);
    int want_scan = PyObject_IsTrue(args[2]);
    if (one_line < 0 || want_scan < 0) {
        return NULL;
    }
    if (fold_table == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "monitor.match._fold.configure() was not called");
        return NULL;
    }

    PyObject *result = NULL, *cased = NULL, *scan = NULL;
    PyObject *dropped_bytes = NULL, *keys_bytes = NULL, *origins_bytes = NULL;
    IntArray dropped = {NULL, 0, 0};
    Translation tr;
    memset(&tr, 0, sizeof(tr));
    tr.one_line = one_line;
    tr.table = fold_table;
    Py_INCREF(tr.table);  /* held for the call, even if configure() swaps it meanwhile */

    if (translate(&tr, text) < 0 || make_strings(&tr, want_scan, &cased, &scan, &dropped) < 0) {
        goto done;
    }
    dropped_bytes = int_array_bytes(&dropped);
    keys_bytes = int_array_bytes(&tr.keys);
    origins_bytes = int_array_bytes(&tr.origins);
    if (dropped_bytes && keys_bytes && origins_bytes) {
        /* PyTuple_Pack takes references of its own; ours are released below */
        PyObject *arrays = PyTuple_Pack(3, dropped_bytes, keys_bytes, origins_bytes);
        if (arrays != NULL) {
            result = PyTuple_Pack(3, cased, scan ? scan : Py_None, arrays);
            Py_DECREF(arrays);
        }
    }
done:
    Py_XDECREF(dropped_bytes);
    Py_XDECREF(keys_bytes);
    Py_XDECREF(origins_bytes);
    Py_XDECREF(cased);
    Py_XDECREF(scan);
    Py_DECREF(tr.table);
    PyMem_Free(tr.out.items);
    PyMem_Free(tr.keys.items);
    PyMem_Free(tr.origins.items);
    PyMem_Free(dropped.items);
    return result;
}

PyDoc_STRVAR(configure_doc,
"configure(table, elided_words)\n\
\n\
table: normalise.FOLD_TABLE (code point -> fold; computes missing entries).\n\
elided_words: normalise._ELIDED (lower-case ASCII words).\n\
Call once, before fold(); calling again resets the cache of folds.");

static PyObject *
configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "configure() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *table = args[0];
    Py_UCS4 ascii[128];
    for (Py_UCS4 c = 0; c < 128; c++) {
        PyObject *folded = table_fold(table, c);
        if (folded == NULL) {
            return NULL;
        }
        int ok = PyUnicode_GET_LENGTH(folded) == 1 && PyUnicode_READ_CHAR(folded, 0) < 0x80;
        ascii[c] = ok ? PyUnicode_READ_CHAR(folded, 0) : 0;
        Py_DECREF(folded);
        if (!ok) {
            PyErr_Format(PyExc_ValueError, "the fold of ASCII %u must be one ASCII character", (unsigned)c);
            return NULL;
        }
    }

    char words[MAX_ELIDED][MAX_ELIDED_LEN + 1];
    int count = 0;
    Py_ssize_t longest = 0;
    PyObject *iterator = PyObject_GetIter(args[1]);
    if (iterator == NULL) {
        return NULL;
    }
    PyObject *word;
    while ((word = PyIter_Next(iterator)) != NULL) {
        Py_ssize_t len = PyUnicode_Check(word) ? PyUnicode_GET_LENGTH(word) : -1;
        int ok = count < MAX_ELIDED && len >= 1 && len <= MAX_ELIDED_LEN;
        for (Py_ssize_t k = 0; ok && k < len; k++) {
            Py_UCS4 c = PyUnicode_READ_CHAR(word, k);
            ok = c >= 'a' && c <= 'z';
            words[count][k] = (char)c;
        }
        Py_DECREF(word);
        if (!ok) {
            Py_DECREF(iterator);
            PyErr_Format(PyExc_ValueError, "elided words: at most %d, each 1-%d lower-case ASCII letters",
                         MAX_ELIDED, MAX_ELIDED_LEN);
            return NULL;
        }
        words[count][len] = '\0';
        if (len > longest) {
            longest = len;
        }
        count++;
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        return NULL;
    }

    /* Everything checked: switch over. */
    Py_INCREF(table);
    Py_XSETREF(fold_table, table);
    memset(cache, 0, sizeof(cache));
    for (int c = 0; c < 128; c++) {
        ascii_fold[0][c] = ascii[c];
        ascii_fold[1][c] = ascii[c] == '\n' ? ' ' : ascii[c];
    }
    memcpy(elided, words, sizeof(words));
    n_elided = count;
    longest_elided = longest;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fold", (PyCFunction)(void (*)(void))fold, METH_FASTCALL, fold_doc},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_FASTCALL, configure_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "monitor.match._fold",
    "Text fold of monitor.match.normalise in C (optional; normalise.py is the reference).",
    -1,
    methods,
};

PyMODINIT_FUNC
PyInit__fold(void)
{
    for (Py_UCS4 c = 0; c < LOWER_TABLE_SIZE; c++) {
        lower_table[c] = Py_UNICODE_TOLOWER(c);
        /* Never false in Unicode so far; refuse to load rather than be wrong. */
        if (c < 256 && latin1_lower_of((Py_UCS1)c) != lower_table[c]) {
            PyErr_SetString(PyExc_ImportError, "latin1_lower_of() disagrees with this Python's str.lower()");
            return NULL;
        }
    }
    return PyModule_Create(&module_def);
}
