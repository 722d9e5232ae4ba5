/*
 * trace_stubs.c - a synthetic, deterministic implementation of model.h for
 * the trace writer's unit tests: every id in range exists and its data is a
 * pure function of the id, so a test can compute the rows it expects by
 * reading the same accessors (handle__depot_get, handle__module_get, ...).
 *
 * Stacks 1..STUB_STACKS: depth 1 + id % 4; frame k has pc 0x400000 +
 * id * 0x100 + k * 8 and module 1 + (id + k) % 3, except frame 0 of every
 * seventh stack, which is in no module (0). Modules 1..4 (module 4 is never
 * in a stack). Threads 0..STUB_THREADS-1, tags 1..STUB_TAGS. The data is
 * built once, never moves, and is read without a lock, as model.h
 * promises. It does not capture stacks, scan modules or intern anything:
 * the *_put/_of/_self/_intern functions only return ids in range.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "debug/model.h"

#define STUB_STACKS 4096u
#define STUB_MODULES 4u
#define STUB_THREADS 256u
#define STUB_TAGS 16u
#define STUB_MAX_DEPTH 4u

static uintptr_t stub_pcs[STUB_STACKS + 1][STUB_MAX_DEPTH];
static uint32_t stub_mods[STUB_STACKS + 1][STUB_MAX_DEPTH];
static struct handle__module stub_modules[STUB_MODULES + 1];
static char stub_paths[STUB_MODULES + 1][32];
static char stub_build_ids[STUB_MODULES + 1][32];
static struct handle__thread stub_threads[STUB_THREADS];
static char stub_tags[STUB_TAGS + 1][16];
static uint64_t stub_start_mono, stub_start_unix;
static pthread_once_t stub_once = PTHREAD_ONCE_INIT;

/* Builds every table once. */
static void stub_init(void)
{
    for (uint32_t id = 1; id <= STUB_STACKS; id++) {
        for (uint32_t k = 0; k < STUB_MAX_DEPTH; k++) {
            stub_pcs[id][k] = 0x400000u + (uintptr_t)id * 0x100u + k * 8u;
            stub_mods[id][k] = (id % 7 == 0 && k == 0) ? 0 : 1 + (id + k) % 3;
        }
    }
    for (uint32_t m = 1; m <= STUB_MODULES; m++) {
        snprintf(stub_paths[m], sizeof stub_paths[m], "/stub/libmod%u.so", m);
        snprintf(stub_build_ids[m], sizeof stub_build_ids[m], "%08x%08x", 0xabcd0000u + m, m);
        stub_modules[m].id = m;
        stub_modules[m].bias = (uintptr_t)m << 28;
        stub_modules[m].lo = ((uintptr_t)m << 28) + 0x1000u;
        stub_modules[m].hi = ((uintptr_t)m << 28) + 0x100000u;
        stub_modules[m].path = stub_paths[m];
        stub_modules[m].build_id = m == 3 ? "" : stub_build_ids[m];
        stub_modules[m].loaded_ns = 1000u * m;
        atomic_store(&stub_modules[m].unloaded_ns, 0);
    }
    for (uint32_t t = 0; t < STUB_THREADS; t++) {
        stub_threads[t].id = t;
        stub_threads[t].tid = (int32_t)(10000 + t);
        snprintf(stub_threads[t].name, sizeof stub_threads[t].name, "stub-%u", t);
        stub_threads[t].first_ns = 10u * t;
    }
    for (uint32_t i = 1; i <= STUB_TAGS; i++)
        snprintf(stub_tags[i], sizeof stub_tags[i], "tag%u", i);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    stub_start_mono = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    clock_gettime(CLOCK_REALTIME, &ts);
    stub_start_unix = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Returns a stack id in range derived from the pcs; never 0 unless depth
 * is 0. */
uint32_t handle__depot_put(const uintptr_t *pcs, uint32_t depth)
{
    pthread_once(&stub_once, stub_init);
    if (!depth)
        return 0;
    return 1 + (uint32_t)(pcs[0] % STUB_STACKS);
}

/* The synthetic stack id; false outside 1..STUB_STACKS. */
bool handle__depot_get(uint32_t id, struct handle__stack *out)
{
    pthread_once(&stub_once, stub_init);
    if (id == 0 || id > STUB_STACKS)
        return false;
    out->depth = 1 + id % STUB_MAX_DEPTH;
    out->pcs = stub_pcs[id];
    out->modules = stub_mods[id];
    return true;
}

uint32_t handle__depot_count(void)
{
    return STUB_STACKS;
}

/* The module whose [lo, hi) holds pc, 0 if none. */
uint32_t handle__module_of(uintptr_t pc)
{
    pthread_once(&stub_once, stub_init);
    for (uint32_t m = 1; m <= STUB_MODULES; m++)
        if (pc >= stub_modules[m].lo && pc < stub_modules[m].hi)
            return m;
    return 0;
}

/* Module id (1..4), NULL otherwise. Tests may set its unloaded_ns. */
const struct handle__module *handle__module_get(uint32_t id)
{
    pthread_once(&stub_once, stub_init);
    return id >= 1 && id <= STUB_MODULES ? &stub_modules[id] : NULL;
}

uint32_t handle__module_count(void)
{
    return STUB_MODULES;
}

/* Always T0: the stubs do not number threads. */
uint32_t handle__thread_self(void)
{
    return 0;
}

/* Thread id (0..STUB_THREADS-1), NULL otherwise. */
const struct handle__thread *handle__thread_get(uint32_t id)
{
    pthread_once(&stub_once, stub_init);
    return id < STUB_THREADS ? &stub_threads[id] : NULL;
}

uint32_t handle__thread_count(void)
{
    return STUB_THREADS;
}

/* "tagN" -> N when N is in range; any other text -> 1; NULL -> 0. */
uint32_t handle__tag_intern(const char *tag)
{
    unsigned n;
    if (!tag)
        return 0;
    if (sscanf(tag, "tag%u", &n) == 1 && n >= 1 && n <= STUB_TAGS)
        return n;
    return 1;
}

/* "tagN" for 1..STUB_TAGS, NULL otherwise. */
const char *handle__tag_get(uint32_t id)
{
    pthread_once(&stub_once, stub_init);
    return id >= 1 && id <= STUB_TAGS ? stub_tags[id] : NULL;
}

uint32_t handle__tag_count(void)
{
    return STUB_TAGS;
}

/* ns since the first call into the stubs. */
uint64_t handle__now_ns(void)
{
    pthread_once(&stub_once, stub_init);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - stub_start_mono;
}

uint64_t handle__start_unix_ns(void)
{
    pthread_once(&stub_once, stub_init);
    return stub_start_unix;
}
