/*
 * ckpt.h - the checkpoint file that faultprog's churn threads write and
 * fault_check reads after the kill: per thread, a ring of (time, handles
 * created, handles deleted so far), published with a release store of the
 * count. The file is mmap'ed MAP_SHARED, so what a thread published before
 * a kill -9 is in the page cache for the checker.
 */
#ifndef HANDLE_FAULTS_CKPT_H
#define HANDLE_FAULTS_CKPT_H

#include <stdatomic.h>
#include <stdint.h>

#define CKPT_MAGIC 0x636b7074u /* "ckpt" */
#define CKPT_THREADS 8
#define CKPT_RING 16384

struct ckpt_entry {
    uint64_t t_ns;    /* CLOCK_MONOTONIC */
    uint64_t created; /* handles this thread created before t_ns */
    uint64_t deleted; /* and deleted */
};

struct ckpt_thread {
    _Atomic uint64_t n; /* entries published */
    struct ckpt_entry e[CKPT_RING];
};

struct ckpt_file {
    uint32_t magic, threads;
    uint64_t start_ns;
    struct ckpt_thread th[CKPT_THREADS];
};

#endif
