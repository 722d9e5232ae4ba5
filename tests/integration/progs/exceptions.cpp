// exceptions.cpp - a C++ host: exceptions must still work with
// libhandle-debug.so preloaded (its libunwind must not replace libgcc's
// _Unwind_RaiseException), also when thrown through a handle callback.
#include <handle/handle.h>
#include <cstdio>
#include <stdexcept>

static void callback(void *user_data)
{
    int *v = static_cast<int *>(handle_value(reinterpret_cast<handle_t>(user_data)));
    if (*v == 7)
        throw std::runtime_error("seven");
}

int main()
{
    int seven = 7, caught = 0;
    for (int i = 0; i < 1000; i++) {
        handle_t h = handle_new(&seven);
        try {
            callback(reinterpret_cast<void *>(h));
        } catch (const std::runtime_error &e) {
            caught++;
        }
        handle_delete(h);
    }
    std::printf("caught=%d\n", caught);
    return caught == 1000 ? 0 : 1;
}
