/*
 * threads.c - 4 threads make 200,000 handle lifetimes in all; every handle
 * is deleted by another thread than the one that made it (handed over
 * through a mutex-protected ring). argv[1] (optional) leaks that many
 * handles more from the main thread. The tests count the trace's rows.
 */
#include <handle/handle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4
#define PER_THREAD 50000
#define RING 1024

static handle_t ring[RING];
static size_t head, tail;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int values[THREADS];

static void push(handle_t h)
{
    pthread_mutex_lock(&mu);
    while (tail - head == RING)
        pthread_cond_wait(&cv, &mu);
    ring[tail++ % RING] = h;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static handle_t pop(void)
{
    pthread_mutex_lock(&mu);
    while (tail == head)
        pthread_cond_wait(&cv, &mu);
    handle_t h = ring[head++ % RING];
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return h;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        push(handle_new(&values[id]));
        handle_t h = pop();
        int *v = handle_value(h);
        if (v < values || v >= values + THREADS)
            abort();
        handle_delete(h);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int leak = argc > 1 ? atoi(argv[1]) : 0;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < leak; i++)
        handle_new(&values[0]);
    printf("live=%zu\n", handle_live_count());
    return 0;
}
