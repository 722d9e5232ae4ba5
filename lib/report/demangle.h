/*
 * demangle.h - C++ (Itanium ABI) symbol names to the qualified, readable
 * form ASan prints ("Session::open_leaky()"), with the demangler of GCC's
 * C++ runtime, libstdc++'s abi::__cxa_demangle (Debian package libstdc++6,
 * GPL-3 with the GCC Runtime Library Exception). libstdc++ is loaded with
 * dlopen(RTLD_LOCAL) on the first mangled name, never linked: none of its
 * symbols enter the scope of a C host the debug runtime is preloaded into.
 * Without libstdc++ names stay as they are. Allocates (malloc): call it at
 * report time only.
 */
#ifndef HANDLE_REPORT_DEMANGLE_H
#define HANDLE_REPORT_DEMANGLE_H

#include <stddef.h>

#ifndef HANDLE__HIDDEN
#define HANDLE__HIDDEN __attribute__((visibility("hidden")))
#endif

/* The demangled form of name, malloc'ed (free it), or NULL when name is
 * not a mangled C++ name ("_Z..."), cannot be demangled, or libstdc++ is
 * not there. Thread-safe. */
HANDLE__HIDDEN char *handle__demangle(const char *name);

/* The length of fn without its parameter list and what follows it
 * ("ns::C::f(int) const" -> the length of "ns::C::f"; "f" -> 1;
 * "A::operator()(int)" -> the length of "A::operator()"): the part of a
 * demangled name that a rebuild does not change, for matching. */
HANDLE__HIDDEN size_t handle__fn_base_len(const char *fn);

#endif
