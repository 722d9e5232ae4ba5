/*
 * forward.c - the debug library's side of "one handle table per process"
 * (SPEC section 1; the protocol is lib/core/peer.h): the note and peer
 * through which a libhandle.so in the process finds this library's own
 * calls and forwards to them, the check at start-up that makes this
 * library forward to a release table already in charge, and the frames of
 * forwarding libraries, which stack capture drops.
 *
 * The seven calls below are this library's own definitions: it is linked
 * with -Bsymbolic-functions, so their addresses never resolve to another
 * object's (a libhandle.so earlier in the global scope, a program wrapper).
 */
#include <errno.h>
#include <stdio.h>

#include "forward.h"

static const struct handle__fwd own_api = {
    handle_new,    handle_new_tagged, handle_value,      handle_value_tagged,
    handle_delete, handle_lookup,     handle_live_count,
};

HANDLE__HIDDEN struct handle__peer handle__peer_debug;
struct handle__peer handle__peer_debug = {
    .magic = HANDLE__PEER_MAGIC,
    .version = HANDLE__PEER_VERSION,
    .kind = HANDLE__PEER_DEBUG,
    .self = &handle__peer_debug,
    .api = &own_api,
    .own_object = 1,
};
HANDLE__PEER_NOTE(handle__peer_debug);

const struct handle__fwd *handle__forward;

const struct handle__fwd *handle__forward_check(void (*warn)(const char *msg))
{
    int saved = errno;
    const char *name = "";
    struct handle__peer *to = handle__peer_decide(&handle__peer_debug, &name);
    if (to == NULL) {
        errno = saved;
        return NULL;
    }
    char msg[1024];
    const char *where = name && name[0] ? name : "linked into the program";
    if (to->kind == HANDLE__PEER_DEBUG)
        snprintf(msg, sizeof msg,
                 "another libhandle-debug.so (%s) serves this process: this copy forwards "
                 "every call to it",
                 where);
    else
        snprintf(msg, sizeof msg,
                 "libhandle.so (%s) served this process before libhandle-debug.so started "
                 "(or cannot find it: loaded RTLD_LOCAL or later in the global scope); its "
                 "table stays in charge and every call is forwarded to it: no checks with "
                 "stacks, no trace, no leak report",
                 where);
    warn(msg);
    handle__forward = to->api;
    errno = saved;
    return to->api;
}

bool handle__forward_pc(uintptr_t pc)
{
    return handle__peer_from_pc(&handle__peer_debug, pc);
}
