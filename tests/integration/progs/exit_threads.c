/*
 * exit_threads.c - main returns while 4 threads are still making and
 * deleting handles as fast as they can: the exit check must neither
 * deadlock nor crash, and the trace must be complete. Also resolves handles
 * from a SIGALRM handler every 200 us while doing so (handle_value and
 * handle_lookup are async-signal-safe).
 */
#include <handle/handle.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static int value = 42;
static handle_t in_signal;
static volatile sig_atomic_t bad, hits;

static void on_alarm(int sig)
{
    (void)sig;
    void *v;
    if (handle_value(in_signal) != &value || !handle_lookup(in_signal, &v) || v != &value)
        bad = 1;
    hits++;
}

static void *churn(void *arg)
{
    (void)arg;
    for (;;) {
        handle_t h = handle_new(&value);
        if (handle_value(h) != &value)
            abort();
        handle_delete(h);
    }
    return NULL;
}

int main(void)
{
    in_signal = handle_new_tagged(&value, "signal");
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (int i = 0; i < 200000; i++)
        handle_delete(handle_new(&value));
    struct timespec ts = {0, 300000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
    printf("signals=%d bad=%d\n", hits > 0, (int)bad);
    return bad;
}
