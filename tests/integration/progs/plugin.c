/* plugin.c - a plugin that leaks a handle; the host dlcloses it before exit. */
#include <handle/handle.h>

static int plugin_object;

handle_t plugin_leak(void);

__attribute__((visibility("default"), noinline)) handle_t plugin_leak(void)
{
    return handle_new_tagged(&plugin_object, "plugin object"); /* LINE_PLUGIN */
}
