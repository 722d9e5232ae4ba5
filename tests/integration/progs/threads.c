/*
 * threads.c - 4 threads make 200,000 handle lifetimes in all; every handle
 * is deleted by another thread than the one that made it (handed over
 * through per-thread rings). argv[1] (optional) leaks that many
 * handles more from the main thread. The tests count the trace's rows.
 */
#include <handle/handle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4
#define PER_THREAD 50000
#define RING 1024

/* Thread i hands every handle it makes to thread i+1 (mod 4), which
 * checks and deletes it: every lifetime crosses threads. */
struct ring {
    handle_t h[RING];
    size_t head, tail;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static struct ring rings[THREADS];
static int values[THREADS];

static void push(struct ring *r, handle_t h)
{
    pthread_mutex_lock(&r->mu);
    while (r->tail - r->head == RING)
        pthread_cond_wait(&r->cv, &r->mu);
    r->h[r->tail++ % RING] = h;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static handle_t pop(struct ring *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->tail == r->head)
        pthread_cond_wait(&r->cv, &r->mu);
    handle_t h = r->h[r->head++ % RING];
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return h;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        push(&rings[(id + 1) % THREADS], handle_new(&values[id]));
        handle_t h = pop(&rings[id]);
        if (handle_value(h) != &values[(id + THREADS - 1) % THREADS])
            abort();
        handle_delete(h);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int leak = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_mutex_init(&rings[i].mu, NULL);
        pthread_cond_init(&rings[i].cv, NULL);
    }
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
