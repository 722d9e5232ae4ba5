/* noop.c - links libhandle but makes no handle: must leave no trace file. */
#include <handle/handle.h>
#include <stdio.h>

int main(void)
{
    printf("live=%zu\n", handle_live_count());
    return 0;
}
