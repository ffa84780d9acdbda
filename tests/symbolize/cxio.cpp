// File reads through the C++ library (t58): each ifstream read's call site must be the
// program's function, not libstdc++'s
#include <fstream>
#include <vector>
__attribute__((noinline)) void load_mesh()
{
    for (int i = 0; i < 30; i++) {
        std::ifstream f("/etc/passwd");
        std::vector<char> b(100);
        f.read(b.data(), 100);
    }
}
__attribute__((noinline)) void load_cfg()
{
    for (int i = 0; i < 10; i++) {
        std::ifstream f("/etc/services");
        std::vector<char> b(100);
        f.read(b.data(), 100);
    }
}
int main()
{
    load_mesh();
    load_cfg();
}
