/*
 * misuse.c - commits one misuse, chosen by argv[1], through functions with
 * known names and lines, so the integration tests can check that the
 * diagnostic names the right functions and file:line for the creation,
 * deletion and use. The lines marked LINE_* are checked by run.sh.
 */
#include <handle/handle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int conn_storage = 42;

__attribute__((noinline)) static handle_t make_conn(void)
{
    return handle_new_tagged(&conn_storage, "struct conn"); /* LINE_CREATE */
}

__attribute__((noinline)) static void drop_conn(handle_t h)
{
    handle_delete(h); /* LINE_DELETE */
}

__attribute__((noinline)) static void *use_conn(handle_t h)
{
    return handle_value(h); /* LINE_USE */
}

__attribute__((noinline)) static void *use_conn_as(handle_t h, const char *tag)
{
    return handle_value_tagged(h, tag); /* LINE_USE_TAGGED */
}

static handle_t shared;

static void *deleter_thread(void *arg)
{
    (void)arg;
    drop_conn(shared);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(what, "double-delete") == 0) {
        handle_t h = make_conn();
        drop_conn(h);
        drop_conn(h);
    } else if (strcmp(what, "double-delete-thread") == 0) {
        shared = make_conn();
        pthread_t t;
        pthread_create(&t, NULL, deleter_thread, NULL);
        pthread_join(t, NULL);
        drop_conn(shared);
    } else if (strcmp(what, "use-after-delete") == 0) {
        handle_t h = make_conn();
        drop_conn(h);
        use_conn(h);
    } else if (strcmp(what, "invalid") == 0) {
        make_conn();
        use_conn((handle_t)0x7777700000001234ull);
    } else if (strcmp(what, "zero") == 0) {
        drop_conn(0);
    } else if (strcmp(what, "tag-mismatch") == 0) {
        handle_t h = make_conn();
        use_conn_as(h, "struct session");
    } else if (strcmp(what, "stale-reused") == 0) {
        /* With quarantine=0 the slot is reused at once: the old handle is
         * still refused, with a note that its history is gone. */
        handle_t h = make_conn();
        drop_conn(h);
        handle_t h2 = make_conn();
        (void)h2;
        use_conn(h);
    } else if (strcmp(what, "ok") == 0) {
        handle_t h = make_conn();
        if (*(int *)use_conn(h) != 42 || *(int *)use_conn_as(h, "struct conn") != 42)
            return 3;
        drop_conn(h);
        void *v;
        if (handle_lookup(h, &v) || handle_lookup(0, &v) || handle_live_count() != 0)
            return 4;
        printf("ok\n");
        return 0;
    } else {
        fprintf(stderr, "usage: misuse KIND\n");
        return 2;
    }
    printf("not reached\n");
    return 1;
}
