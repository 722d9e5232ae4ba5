/*
 * fork_phase.h - the phases of the runtime's one pthread_atfork handler
 * (lifecycle.c), which every part with a lock or per-process state gets:
 * prepare takes the part's lock, parent and child release it (the child
 * also resets what is per-process).
 */
#ifndef HANDLE_DEBUG_FORK_PHASE_H
#define HANDLE_DEBUG_FORK_PHASE_H

enum { HANDLE__FORK_PREPARE, HANDLE__FORK_PARENT, HANDLE__FORK_CHILD };

#endif
