/*
 * eventloop.c - the demo: a tiny event loop in the style of libuv or
 * libevent, whose callbacks carry only a `void *user_data`. Connections are
 * registered with the loop by handle (handle_new_tagged(conn, "struct
 * conn")), so a stale callback can never touch a freed connection: it is
 * refused instead. The bug, as real as they come: when a peer sends a bad
 * request, on_readable() closes the connection but forgets to delete its
 * handle, so every bad request leaks one handle (and keeps the connection
 * object reachable). The timers' handles are all deleted correctly.
 *
 *     handle-run ./eventloop      # the leak report names on_readable
 */
#include <handle/handle.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a minimal event loop: it only knows callbacks and user data ---- */

typedef void (*event_cb)(void *user_data);

struct event {
    event_cb cb;
    void *user_data;
};

struct loop {
    struct event q[256];
    size_t head, tail;
};

static void loop_post(struct loop *l, event_cb cb, void *user_data)
{
    l->q[l->tail++ % 256] = (struct event){cb, user_data};
}

static void loop_run(struct loop *l)
{
    while (l->head != l->tail) {
        struct event e = l->q[l->head++ % 256];
        e.cb(e.user_data);
    }
}

/* ---- the application ------------------------------------------------ */

struct conn {
    int id;
    char request[32];
    int requests_served;
};

static struct loop loop;
static int served, rejected;

/* The handle travels as the callback's user data. */
static void *as_user_data(handle_t h) { return (void *)h; }
static handle_t from_user_data(void *p) { return (handle_t)p; }

static void close_conn(struct conn *c)
{
    free(c);
}

static void on_readable(void *user_data)
{
    handle_t h = from_user_data(user_data);
    struct conn *c = handle_value_tagged(h, "struct conn");
    if (strncmp(c->request, "GET ", 4) != 0) {
        rejected++;
        close_conn(c); /* BUG: the handle is never deleted: it leaks */
        return;
    }
    c->requests_served++;
    served++;
    handle_delete(h);
    close_conn(c);
}

static handle_t accept_conn(int id, const char *request)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        abort();
    c->id = id;
    snprintf(c->request, sizeof c->request, "%s", request);
    return handle_new_tagged(c, "struct conn");
}

struct timer {
    int fired;
};

static void on_timer(void *user_data)
{
    handle_t h = from_user_data(user_data);
    struct timer *t = handle_value_tagged(h, "struct timer");
    t->fired++;
    handle_delete(h); /* one-shot timer: done with it */
}

int main(void)
{
    static const char *requests[] = {"GET /", "GET /index.html", "BREW /pot", "GET /favicon",
                                     "HELO", "GET /api"};
    struct timer timers[4] = {{0}};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 6; i++) {
            handle_t h = accept_conn(round * 6 + i, requests[i]);
            loop_post(&loop, on_readable, as_user_data(h));
        }
        for (int i = 0; i < 4; i++)
            loop_post(&loop, on_timer, as_user_data(handle_new_tagged(&timers[i], "struct timer")));
        loop_run(&loop);
    }
    printf("served %d requests, rejected %d, %zu handle(s) still live\n", served, rejected,
           handle_live_count());
    return 0;
}
