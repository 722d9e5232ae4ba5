/* plugin_host.c - dlopens argv[1], calls plugin_leak, dlcloses it. */
#include <dlfcn.h>
#include <handle/handle.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *p = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (p == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    handle_t (*leak)(void) = (handle_t(*)(void))dlsym(p, "plugin_leak");
    leak();
    dlclose(p);
    printf("unloaded\n");
    return 0;
}
