/*
 * busy.c - for the kill -9 test: makes 50,000 lifetimes and leaves 100
 * handles live, prints "phase1" and waits 1.5 s (longer than flush_ms plus
 * the test's slack), then churns handles on 3 threads until killed.
 */
#include <handle/handle.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static int x;

static void *churn(void *arg)
{
    (void)arg;
    for (;;) {
        handle_t h[64];
        for (int i = 0; i < 64; i++)
            h[i] = handle_new(&x);
        for (int i = 0; i < 64; i++)
            handle_delete(h[i]);
    }
    return NULL;
}

int main(void)
{
    for (int i = 0; i < 50000; i++)
        handle_delete(handle_new(&x));
    for (int i = 0; i < 100; i++)
        handle_new(&x);
    printf("phase1\n");
    fflush(stdout);
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    churn(NULL);
    return 0;
}
