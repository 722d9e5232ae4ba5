/*
 * suppress_fuzz.c - a libFuzzer target for the suppressions parser and
 * matcher (lib/report/suppress.c), checked against a reference written
 * from the rules in suppress.h rather than from the code:
 *
 *  - parsing: the same accept/reject decision, the same patterns and line
 *    numbers as a plain line-by-line reference parser; a rejection is one
 *    line of text naming the line number;
 *  - glob: handle__supp_glob agrees with a dynamic-programming matcher of
 *    the documented semantics (implied '*' at both ends unless anchored
 *    with '^' / '$', '*' any run, an empty string never matches) for every
 *    pattern and every string of the input;
 *  - match: handle__supp_match finds the pattern that the documented order
 *    finds (frames in order; module path, then function, then file; the
 *    patterns in file order);
 *  - the "Suppressions used" block and handle__supp_load on the same text
 *    (as a file) do not crash and agree with the parse.
 *
 * Input: the suppressions text, a NUL byte, then NUL-separated strings used
 * as subjects (and, three at a time, as frames: module, function, file).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/suppress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                                              \
    do {                                                                                       \
        fprintf(stderr, "suppress_fuzz: " __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                                   \
        __builtin_trap();                                                                      \
    } while (0)

/* ---- reference glob ---------------------------------------------------- */

/* Whether p[0..pn) matches all of s[0..sn), '*' matching any run. */
static bool ref_match_all(const char *p, size_t pn, const char *s, size_t sn)
{
    /* dp[j]: p[0..i) matches s[0..j) */
    bool *dp = calloc(sn + 1, sizeof *dp);
    if (!dp)
        abort();
    dp[0] = true;
    for (size_t i = 0; i < pn; i++) {
        if (p[i] == '*') {
            for (size_t j = 1; j <= sn; j++)
                dp[j] = dp[j] || dp[j - 1];
        } else {
            for (size_t j = sn; j > 0; j--)
                dp[j] = dp[j - 1] && s[j - 1] == p[i];
            dp[0] = false;
        }
    }
    bool r = dp[sn];
    free(dp);
    return r;
}

static bool ref_glob(const char *pattern, const char *s)
{
    if (s[0] == '\0')
        return false;
    size_t pn = strlen(pattern);
    bool start = pn > 0 && pattern[0] == '^';
    const char *p = pattern + (start ? 1 : 0);
    pn -= start ? 1 : 0;
    bool end = pn > 0 && p[pn - 1] == '$';
    pn -= end ? 1 : 0;
    /* "Matches anywhere unless anchored": the implied stars. */
    char *q = malloc(pn + 3);
    if (!q)
        abort();
    size_t qn = 0;
    if (!start)
        q[qn++] = '*';
    memcpy(q + qn, p, pn);
    qn += pn;
    if (!end)
        q[qn++] = '*';
    bool r = ref_match_all(q, qn, s, strlen(s));
    free(q);
    return r;
}

/* ---- reference parser --------------------------------------------------- */

struct ref_pat {
    char *text;
    unsigned line;
};

static bool ref_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Returns the number of patterns, or -1 (with *bad_line) if the text is
 * rejected. */
static long ref_parse(const char *text, struct ref_pat *out, size_t cap, unsigned *bad_line)
{
    long n = 0;
    unsigned line = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        line++;
        size_t b = 0, e = len;
        while (b < e && ref_space(p[b]))
            b++;
        while (e > b && ref_space(p[e - 1]))
            e--;
        if (b < e && p[b] != '#') {
            if (e - b < 5 || memcmp(p + b, "leak:", 5) != 0) {
                *bad_line = line;
                for (long i = 0; i < n && (size_t)i < cap; i++)
                    free(out[i].text);
                return -1;
            }
            size_t pb = b + 5;
            while (pb < e && ref_space(p[pb]))
                pb++;
            if ((size_t)n < cap) {
                out[n].text = strndup(p + pb, e - pb);
                out[n].line = line;
            }
            n++;
        }
        p += len + (eol ? 1 : 0);
    }
    return n;
}

/* ---- the target --------------------------------------------------------- */

#define MAX_PATS 64
#define MAX_STRS 24
/* The reference glob is O(pattern x subject): only patterns and subjects
 * up to MAX_LEN bytes, and the first REF_PATS patterns, are checked
 * against it, which keeps an input under a millisecond. */
#define MAX_LEN 96
#define REF_PATS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *text = buf;
    size_t tlen = strlen(text);

    /* Subjects: the NUL-separated strings after the text. */
    const char *strs[MAX_STRS];
    size_t nstrs = 0;
    for (size_t off = tlen + 1; off <= size && nstrs < MAX_STRS;) {
        strs[nstrs++] = buf + off;
        off += strlen(buf + off) + 1;
    }

    char err[256];
    err[0] = '\0';
    struct handle__supp *sp = handle__supp_parse(text, "fuzz.supp", err, sizeof err);
    struct ref_pat ref[MAX_PATS];
    unsigned bad_line = 0;
    long nref = ref_parse(text, ref, MAX_PATS, &bad_line);
    if (nref < 0) {
        if (sp)
            FAIL("accepted text the reference rejects at line %u", bad_line);
        char want[32];
        snprintf(want, sizeof want, "fuzz.supp:%u: ", bad_line);
        if (strncmp(err, want, strlen(want)) != 0)
            FAIL("error '%s' does not start with '%s'", err, want);
        if (strchr(err, '\n'))
            FAIL("error message is not one line: '%s'", err);
        free(buf);
        return 0;
    }
    if (!sp)
        FAIL("rejected text the reference accepts: %s", err);
    size_t n = handle__supp_count(sp);
    if ((long)n != nref)
        FAIL("%zu patterns, reference %ld", n, nref);
    for (size_t i = 0; i < n && i < MAX_PATS; i++) {
        if (strcmp(handle__supp_pattern(sp, i), ref[i].text) != 0)
            FAIL("pattern %zu '%s', reference '%s'", i, handle__supp_pattern(sp, i), ref[i].text);
        if (handle__supp_line(sp, i) != ref[i].line)
            FAIL("pattern %zu on line %u, reference %u", i, handle__supp_line(sp, i), ref[i].line);
    }

    /* Glob, pattern by pattern, against every subject (and the patterns
     * against each other: they make good subjects). */
    for (size_t i = 0; i < n && i < REF_PATS; i++) {
        const char *p = handle__supp_pattern(sp, i);
        if (strlen(p) > MAX_LEN)
            continue;
        for (size_t j = 0; j < nstrs + n && j < MAX_STRS + REF_PATS; j++) {
            const char *s = j < nstrs ? strs[j] : handle__supp_pattern(sp, j - nstrs);
            if (strlen(s) > MAX_LEN)
                continue;
            bool got = handle__supp_glob(p, s), want = ref_glob(p, s);
            if (got != want)
                FAIL("glob('%s', '%s') = %d, reference %d", p, s, got, want);
        }
    }

    /* Frames of three subjects each: module, function, file. */
    struct handle__sym_frame frames[MAX_STRS / 3 + 1];
    size_t nf = 0;
    for (size_t j = 0; j + 2 < nstrs; j += 3, nf++) {
        memset(&frames[nf], 0, sizeof frames[nf]);
        frames[nf].pc = 0x1000 + nf;
        frames[nf].module = strs[j];
        frames[nf].function = strs[j + 1][0] ? strs[j + 1] : NULL;
        frames[nf].file = strs[j + 2][0] ? strs[j + 2] : NULL;
    }
    int got = handle__supp_match(sp, frames, nf);
    int want = -1;
    bool long_subject = false;
    for (size_t f = 0; f < nf && want < 0 && n <= REF_PATS; f++) {
        const char *subj[3] = {frames[f].module, frames[f].function, frames[f].file};
        for (int k = 0; k < 3 && want < 0; k++) {
            if (!subj[k])
                continue;
            if (strlen(subj[k]) > MAX_LEN)
                long_subject = true;
            for (size_t i = 0; i < n && want < 0; i++)
                if (strlen(handle__supp_pattern(sp, i)) > MAX_LEN)
                    long_subject = true;
                else if (ref_glob(handle__supp_pattern(sp, i), subj[k]))
                    want = (int)i;
        }
    }
    if (!long_subject && n <= REF_PATS && got != want)
        FAIL("match = %d, reference %d", got, want);
    if (got >= 0)
        handle__supp_add_hits(sp, (size_t)got, 3);
    handle__supp_add_hits(sp, n, 1); /* out of range: a no-op */

    struct handle__sb b = {0};
    handle__supp_print_used(&b, sp);
    if (got >= 0 && !strstr(handle__sb_str(&b), "Suppressions used:"))
        FAIL("a hit pattern is missing from the used block");
    handle__sb_free(&b);

    /* The same text through a file, once in a while. */
    if (size && data[size - 1] == 'F' && !memchr(data, '\0', tlen)) {
        char path[] = "/tmp/suppress_fuzz.XXXXXX";
        int fd = mkstemp(path);
        if (fd >= 0) {
            if (write(fd, text, tlen) == (ssize_t)tlen) {
                struct handle__supp *sl = handle__supp_load(path, err, sizeof err);
                if (!sl || handle__supp_count(sl) != n)
                    FAIL("load of the same text: %s", sl ? "different count" : err);
                handle__supp_free(sl);
            }
            close(fd);
            unlink(path);
        }
    }

    for (long i = 0; i < nref && i < MAX_PATS; i++)
        free(ref[i].text);
    handle__supp_free(sp);
    free(buf);
    return 0;
}
