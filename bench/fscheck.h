/*
 * fscheck.h: a streaming check of a bencoded full scrape, shared by bench/fsreaders.c and
 * bench/loadgen.c (its slow readers).
 *
 * b_feed takes the decoded body a range at a time, in any split, and sets err at the first
 * fault: FSC_BENCODE (not bencode: leading zeros, a non-string key, bytes after the end...)
 * or FSC_SHAPE (bencode, but not `d5:filesd` (20-byte key, dict of the integers complete,
 * downloaded and incomplete)* `ee`). The body is whole when st == B_END; entries counts the
 * files dict's keys. Nothing is kept but a few counters, so a truncation anywhere, even at an
 * entry's end, leaves st short of B_END.
 */
#ifndef FSCHECK_H
#define FSCHECK_H

#include <stdint.h>
#include <string.h>

enum { FSC_OK, FSC_BENCODE, FSC_SHAPE };

/* Checks `d5:filesd` (20-byte key, dict of complete/downloaded/incomplete integers)* `ee`
   a byte range at a time. Generic bencode below, the full scrape's shape on top. */
enum { B_VALUE, B_INT_FIRST, B_INT_DIGITS, B_INT_NEG, B_LEN, B_STR, B_END };
typedef struct {
    int st, depth, err;        /* 0, FSC_BENCODE or FSC_SHAPE */
    char kind[8];              /* 'd' or 'l' per depth */
    int want_key[8];           /* in a dict: is the next item a key? */
    long long len, left;       /* string length being read, bytes of it still to come */
    int int_digits, int_zero;
    char key[16];              /* keys at depth 1 and 3, for the shape check */
    int keylen, is_key;
    int top_files;             /* depth 1 saw key "files" and its value is a dict */
    int seen3;                 /* bits: complete, downloaded, incomplete seen in an entry */
    long long entries;
} bstate_t;

static void b_init(bstate_t *b) { memset(b, 0, sizeof *b); }

/* a value starts at the current depth: in a dict, a key or a value */
static int b_value_start(bstate_t *b, int is_str) {
    if (b->depth == 0) {
        if (b->st == B_END) return FSC_BENCODE; /* trailing bytes */
        return is_str ? FSC_SHAPE : 0;
    }
    int d = b->depth - 1;
    if (b->kind[d] == 'd') {
        b->is_key = b->want_key[d];
        if (b->is_key && !is_str) return FSC_BENCODE;
        b->want_key[d] = !b->want_key[d];
    } else b->is_key = 0;
    return 0;
}

/* after a complete key string at depth `depth` */
static int b_key_done(bstate_t *b) {
    if (b->depth == 1) {
        if (b->keylen != 5 || memcmp(b->key, "files", 5) || b->top_files) return FSC_SHAPE;
    } else if (b->depth == 2) {
        if (b->len != 20) return FSC_SHAPE;
        b->entries++;
    } else if (b->depth == 3) {
        static const char *k3[3] = {"complete", "downloaded", "incomplete"};
        int bit = -1;
        for (int i = 0; i < 3; i++)
            if ((size_t)b->keylen == strlen(k3[i]) && !memcmp(b->key, k3[i], b->keylen)) bit = i;
        if (bit < 0 || (b->seen3 & (1 << bit))) return FSC_SHAPE;
        b->seen3 |= 1 << bit;
    }
    return 0;
}

static int b_open(bstate_t *b, char kind) {
    int e = b_value_start(b, 0);
    if (e) return e;
    if (b->depth >= 8) return FSC_SHAPE;
    /* shape: depth 0 a dict, the files value (depth 1) a dict, each entry (depth 2) a dict */
    if (kind != 'd' || b->depth > 2) return FSC_SHAPE;
    if (b->depth == 1) b->top_files = 1;
    if (b->depth == 2) b->seen3 = 0;
    b->kind[b->depth] = kind;
    b->want_key[b->depth] = 1;
    b->depth++;
    return 0;
}

static int b_close(bstate_t *b) {
    if (b->depth == 0) return FSC_BENCODE;
    int d = b->depth - 1;
    if (b->kind[d] == 'd' && !b->want_key[d]) return FSC_BENCODE; /* a key without value */
    if (d == 2 && b->seen3 != 7) return FSC_SHAPE;
    if (d == 0 && !b->top_files) return FSC_SHAPE;
    b->depth--;
    if (b->depth == 0) b->st = B_END;
    return 0;
}

/* digits of a bencoded integer up to `end`, no leading zero; NULL if none or malformed */
static inline const uint8_t *b_digits(const uint8_t *p, const uint8_t *e, uint8_t end) {
    const uint8_t *d = p;
    while (p < e && *p >= '0' && *p <= '9' && p - d < 19) p++;
    if (p == d || p >= e || *p != end || (*d == '0' && p - d > 1)) return NULL;
    return p + 1;
}

/* One whole entry in its usual form, `20:<hash>d8:completeiNe10:downloadediNe10:incompleteiNee`,
   when it lies in the buffer; else NULL and the byte-wise parser takes it. Byte-wise the
   readers' core, not the server, was the limit of the storm. */
static inline const uint8_t *b_entry_fast(const uint8_t *p, const uint8_t *e) {
    if (e - p < 96 || memcmp(p, "20:", 3) || memcmp(p + 23, "d8:completei", 12)) return NULL;
    p = b_digits(p + 35, e, 'e');
    if (!p || e - p < 64 || memcmp(p, "10:downloadedi", 14)) return NULL;
    p = b_digits(p + 14, e, 'e');
    if (!p || e - p < 32 || memcmp(p, "10:incompletei", 14)) return NULL;
    p = b_digits(p + 14, e, 'e');
    if (!p || p >= e || *p != 'e') return NULL;
    return p + 1;
}

static void b_feed(bstate_t *b, const uint8_t *p, size_t n) {
    const uint8_t *e = p + n;
    while (p < e && !b->err) {
        if (b->depth == 2 && b->st == B_VALUE && b->want_key[1]) {
            const uint8_t *q;
            while ((q = b_entry_fast(p, e)) != NULL) {
                b->entries++;
                p = q;
            }
            if (p == e) break;
        }
        int c = *p;
        switch (b->st) {
        case B_STR: {
            size_t take = (size_t)b->left < (size_t)(e - p) ? (size_t)b->left : (size_t)(e - p);
            if (b->is_key && (b->depth == 1 || b->depth == 3) && b->keylen + take <= sizeof b->key) {
                memcpy(b->key + b->keylen, p, take);
                b->keylen += (int)take;
            } else if (b->is_key && (b->depth == 1 || b->depth == 3)) b->keylen = (int)sizeof b->key + 1;
            p += take;
            b->left -= (long long)take;
            if (b->left == 0) {
                b->st = B_VALUE;
                if (b->is_key) b->err = b_key_done(b);
                else if (b->depth >= 1) b->err = FSC_SHAPE; /* files is a dict, entries hold integers */
            }
            continue;
        }
        case B_LEN:
            if (c >= '0' && c <= '9') {
                if (b->len == 0 && b->int_zero) { b->err = FSC_BENCODE; break; }
                b->len = b->len * 10 + (c - '0');
                if (b->len > (1LL << 30)) { b->err = FSC_BENCODE; break; }
            } else if (c == ':') {
                b->left = b->len;
                b->keylen = 0;
                b->st = B_STR;
                if (b->len == 0) { b->st = B_VALUE; b->err = b->is_key ? b_key_done(b) : FSC_SHAPE; }
            } else b->err = FSC_BENCODE;
            p++;
            continue;
        case B_INT_FIRST:
            if (c == '-') { b->st = B_INT_NEG; p++; continue; }
            /* fall through */
        case B_INT_NEG:
            if (c < '0' || c > '9' || (b->st == B_INT_NEG && c == '0')) { b->err = FSC_BENCODE; break; }
            b->int_zero = c == '0';
            b->int_digits = 1;
            b->st = B_INT_DIGITS;
            p++;
            continue;
        case B_INT_DIGITS:
            if (c == 'e') { b->st = B_VALUE; if (b->depth != 3) b->err = FSC_SHAPE; }
            else if (c < '0' || c > '9' || b->int_zero || ++b->int_digits > 19) b->err = FSC_BENCODE;
            p++;
            continue;
        case B_VALUE:
        case B_END:
            if (c == 'd' || c == 'l') b->err = b_open(b, (char)c);
            else if (c == 'e') b->err = b_close(b);
            else if (c == 'i') {
                b->err = b_value_start(b, 0);
                if (!b->err && b->depth == 0) b->err = FSC_SHAPE;
                b->st = B_INT_FIRST;
            } else if (c >= '0' && c <= '9') {
                b->err = b_value_start(b, 1);
                b->len = c - '0';
                b->int_zero = c == '0';
                b->st = B_LEN;
            } else b->err = FSC_BENCODE;
            p++;
            continue;
        }
    }
}

#endif
