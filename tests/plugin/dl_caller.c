/* A library with its own search path (RUNPATH, given when it is built) that dlopens a name
 * itself: glibc searches the path of the object that calls dlopen (t51_dlopen.sh). */
#include <dlfcn.h>

void *dl_caller_open(const char *name) { return dlopen(name, RTLD_NOW | RTLD_LOCAL); }
