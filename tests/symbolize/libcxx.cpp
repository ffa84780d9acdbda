// A C++ library the test program links (tests/t58_symbolize.sh): its function's name is
// mangled in the symbol table, demangled by the lookup (the process has __cxa_demangle
// from libstdc++, which this library brings).
static volatile int sink;
__attribute__((noinline)) static void *grab() { return __builtin_return_address(0); }

namespace symtest {
__attribute__((noinline)) void *cxx_fn(int k)
{
    void *r = grab();
    sink += k;
    return r;
}
} // namespace symtest

extern "C" void *cxx_probe(void) { return symtest::cxx_fn(1); }
extern "C" void *const cxx_addr = (void *)&symtest::cxx_fn;
