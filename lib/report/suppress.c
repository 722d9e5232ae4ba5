/*
 * suppress.c - LSan-syntax leak suppressions (see suppress.h): the parser,
 * the glob matcher, hit counts and the "Suppressions used" block. It does
 * not decide what is a leak, nor symbolize.
 */
#include "suppress.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct supp_pattern {
    char *pattern;
    unsigned line;
    uint64_t hits;
};

struct handle__supp {
    struct supp_pattern *pat;
    size_t n, cap;
    char *text; /* the text parsed (handle__supp_text) */
};

/* ---- matching ------------------------------------------------------------ */

/* Glob of p[0..pn) against s[0..sn), '*' the only wildcard, with an
 * implied '*' before the pattern (lead) and after it (trail). The classic
 * backtrack-to-the-last-star walk: O(pn * sn) at worst, no recursion, no
 * allocation. Pattern positions: 0 is the leading star if lead, then the
 * pattern's characters, then the trailing star if trail. */
static bool glob_n(const char *p, size_t pn, const char *s, size_t sn, bool lead, bool trail)
{
    size_t off = lead ? 1 : 0;
    size_t m = pn + off + (trail ? 1 : 0);
#define PAT(i) ((lead && (i) == 0) || (trail && (i) == m - 1) ? '*' : p[(i) - off])
    size_t i = 0, j = 0, star = SIZE_MAX, mark = 0;
    while (j < sn) {
        if (i < m && PAT(i) == '*') {
            star = i++;
            mark = j;
        } else if (i < m && PAT(i) == s[j]) {
            i++;
            j++;
        } else if (star != SIZE_MAX) {
            i = star + 1;
            j = ++mark;
        } else {
            return false;
        }
    }
    while (i < m && PAT(i) == '*')
        i++;
#undef PAT
    return i == m;
}

bool handle__supp_glob(const char *pattern, const char *s)
{
    if (!pattern || !s || !s[0])
        return false;
    size_t pn = strlen(pattern);
    bool start = pn > 0 && pattern[0] == '^';
    if (start) {
        pattern++;
        pn--;
    }
    bool end = pn > 0 && pattern[pn - 1] == '$';
    if (end)
        pn--;
    return glob_n(pattern, pn, s, strlen(s), !start, !end);
}

static int match_str(const struct handle__supp *sp, const char *s)
{
    if (!s || !s[0])
        return -1;
    for (size_t i = 0; i < sp->n; i++)
        if (handle__supp_glob(sp->pat[i].pattern, s))
            return (int)i;
    return -1;
}

int handle__supp_match(const struct handle__supp *sp, const struct handle__sym_frame *frames,
                       size_t n)
{
    if (!sp)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct handle__sym_frame *f = &frames[i];
        int r;
        /* The module once per pc: inlined frames share it. */
        if ((i == 0 || frames[i - 1].pc != f->pc || frames[i - 1].module != f->module) &&
            (r = match_str(sp, f->module)) >= 0)
            return r;
        if ((r = match_str(sp, f->function)) >= 0 || (r = match_str(sp, f->file)) >= 0)
            return r;
    }
    return -1;
}

/* ---- accessors ------------------------------------------------------------ */

size_t handle__supp_count(const struct handle__supp *sp)
{
    return sp ? sp->n : 0;
}

const char *handle__supp_pattern(const struct handle__supp *sp, size_t i)
{
    return sp && i < sp->n ? sp->pat[i].pattern : NULL;
}

unsigned handle__supp_line(const struct handle__supp *sp, size_t i)
{
    return sp && i < sp->n ? sp->pat[i].line : 0;
}

uint64_t handle__supp_hits(const struct handle__supp *sp, size_t i)
{
    return sp && i < sp->n ? sp->pat[i].hits : 0;
}

void handle__supp_add_hits(struct handle__supp *sp, size_t i, uint64_t n)
{
    if (sp && i < sp->n)
        sp->pat[i].hits += n;
}

void handle__supp_print_used(struct handle__sb *b, const struct handle__supp *sp)
{
    bool any = false;
    for (size_t i = 0; sp && i < sp->n && !any; i++)
        any = sp->pat[i].hits > 0;
    if (!any)
        return;
    handle__sb_puts(b, "-----------------------------------------------------\n"
                       "Suppressions used:\n"
                       "  count template\n");
    for (size_t i = 0; i < sp->n; i++)
        if (sp->pat[i].hits > 0)
            handle__sb_printf(b, "%7" PRIu64 " %s\n", sp->pat[i].hits, sp->pat[i].pattern);
    handle__sb_puts(b, "-----------------------------------------------------\n");
}

void handle__supp_free(struct handle__supp *sp)
{
    if (!sp)
        return;
    for (size_t i = 0; i < sp->n; i++)
        free(sp->pat[i].pattern);
    free(sp->pat);
    free(sp->text);
    free(sp);
}

const char *handle__supp_text(const struct handle__supp *sp)
{
    return sp && sp->text ? sp->text : "";
}

/* ---- parsing ---------------------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static struct handle__supp *parse_fail(struct handle__supp *sp, char *err, size_t errlen,
                                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct handle__supp *parse_fail(struct handle__supp *sp, char *err, size_t errlen,
                                       const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    handle__supp_free(sp);
    return NULL;
}

/* At most this much of an offending line is quoted in a message. */
#define QUOTE_MAX 60

struct handle__supp *handle__supp_parse(const char *text, const char *origin, char *err,
                                        size_t errlen)
{
    if (!origin)
        origin = "suppressions";
    struct handle__supp *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->text = strdup(text ? text : "")))
        return parse_fail(sp, err, errlen, "out of memory");
    unsigned lineno = 0;
    for (const char *line = text ? text : ""; *line;) {
        const char *eol = strchr(line, '\n');
        if (!eol)
            eol = line + strlen(line);
        const char *next = *eol ? eol + 1 : eol;
        lineno++;
        const char *b = line, *e = eol;
        while (b < e && is_space(*b))
            b++;
        while (e > b && is_space(e[-1]))
            e--;
        line = next;
        if (b == e || *b == '#')
            continue;
        const char *colon = memchr(b, ':', (size_t)(e - b));
        if (!colon) {
            int q = e - b > QUOTE_MAX ? QUOTE_MAX : (int)(e - b);
            return parse_fail(sp, err, errlen,
                              "%s:%u: expected 'leak:PATTERN', got '%.*s'", origin, lineno, q, b);
        }
        size_t tl = (size_t)(colon - b);
        if (tl != 4 || memcmp(b, "leak", 4) != 0) {
            int q = tl > QUOTE_MAX ? QUOTE_MAX : (int)tl;
            return parse_fail(sp, err, errlen,
                              "%s:%u: unsupported suppression type '%.*s' (only 'leak' is "
                              "supported)",
                              origin, lineno, q, b);
        }
        const char *pb = colon + 1;
        while (pb < e && is_space(*pb))
            pb++;
        if (sp->n == sp->cap) {
            size_t ncap = sp->cap ? sp->cap * 2 : 8;
            struct supp_pattern *np = realloc(sp->pat, ncap * sizeof *np);
            if (!np)
                return parse_fail(sp, err, errlen, "out of memory");
            sp->pat = np;
            sp->cap = ncap;
        }
        char *pat = malloc((size_t)(e - pb) + 1);
        if (!pat)
            return parse_fail(sp, err, errlen, "out of memory");
        memcpy(pat, pb, (size_t)(e - pb));
        pat[e - pb] = '\0';
        sp->pat[sp->n++] = (struct supp_pattern){pat, lineno, 0};
    }
    return sp;
}

/* Milliseconds on CLOCK_MONOTONIC. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct handle__supp *handle__supp_load(const char *path, char *err, size_t errlen)
{
    return handle__supp_load_within(path, HANDLE__SUPP_WAIT_MS, err, errlen);
}

struct handle__supp *handle__supp_load_within(const char *path, int wait_ms, char *err,
                                              size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO does not wait for a writer; reading one
     * waits at most wait_ms in all (below). */
    int saved = errno; /* the runtime reads this inside its host */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        errno = saved;
        return parse_fail(NULL, err, errlen, "%s: %s", path, strerror(e));
    }
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (S_ISDIR(st.st_mode))
        bad = strerror(EISDIR);
    /* Pipes are fine: --suppressions <(generate) */
    if (bad) {
        close(fd);
        errno = saved;
        return parse_fail(NULL, err, errlen, "%s: %s", path, bad);
    }
    /* Read to the end, whatever the size said (the file may change), but
     * never more than HANDLE__SUPP_MAX bytes (/dev/zero has no end). */
    bool regular = S_ISREG(st.st_mode);
    size_t cap = (regular && (uint64_t)st.st_size < HANDLE__SUPP_MAX ? (size_t)st.st_size : 0) + 64,
           len = 0;
    int64_t deadline = now_ms() + wait_ms;
    char *buf = malloc(cap);
    const char *why = NULL;
    char whybuf[64];
    for (;;) {
        if (!buf) {
            why = "out of memory";
            break;
        }
        if (len > HANDLE__SUPP_MAX) {
            why = "over 1 MiB (a suppression file is at most 1 MiB)";
            break;
        }
        if (len + 1 == cap) {
            size_t ncap = cap * 2 > HANDLE__SUPP_MAX + 2 ? HANDLE__SUPP_MAX + 2 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb)
                free(buf);
            buf = nb;
            cap = ncap;
            continue;
        }
        if (!regular) {
            /* A FIFO, a socket, a device: wait for data or its end, within
             * the time left (a FIFO nobody writes to never ends). */
            int64_t left = deadline - now_ms();
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            int r = left > 0 ? poll(&pf, 1, (int)(left > 60000 ? 60000 : left)) : 0;
            if (r < 0 && errno == EINTR)
                continue;
            if (r == 0 && now_ms() >= deadline) {
                snprintf(whybuf, sizeof whybuf, "nothing to read within %d.%d s (a FIFO without a writer?)",
                         wait_ms / 1000, wait_ms % 1000 / 100);
                why = whybuf;
                break;
            }
            if (r == 0)
                continue;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            why = strerror(errno);
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (why) {
        free(buf);
        close(fd);
        errno = saved;
        return parse_fail(NULL, err, errlen, "%s: %s", path, why);
    }
    close(fd);
    errno = saved;
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        free(buf);
        return parse_fail(NULL, err, errlen, "%s: not a text file (contains NUL bytes)", path);
    }
    struct handle__supp *sp = handle__supp_parse(buf, path, err, errlen);
    free(buf);
    return sp;
}
