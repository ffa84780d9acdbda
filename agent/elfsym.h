/* Symbols and lines of one ELF object, read from its file (agent/elfsym.c), for the stack
 * table (agent/stackdb.c). Drainer side only: allocates, maps files. */
#ifndef TA_ELFSYM_H
#define TA_ELFSYM_H
#include <stdint.h>

struct ta_elf;
/* The object at path (and its separate debug file, when it has one and lacks .symtab or
 * .debug_line): never NULL, an object that cannot be read has no symbols. Kept for the
 * life of the process: the strings it gives point into its mappings. */
struct ta_elf *ta_elf_load(const char *path);
/* The function covering link-time address vaddr (demangled when C++'s and the process has
 * __cxa_demangle), or NULL */
const char *ta_elf_function(struct ta_elf *e, uint64_t vaddr);
/* The source file and line of vaddr from .debug_line: 0, or -1 when none */
int ta_elf_line(struct ta_elf *e, uint64_t vaddr, const char **file, uint32_t *line);
/* What was read: functions, line rows, and whether a separate debug file was used */
void ta_elf_counts(const struct ta_elf *e, uint64_t *nsyms, uint64_t *nrows, int *debugfile);

/* Test hooks (tests/symbolize): the directory searched for debug files by build-id and
 * debug link ("/usr/lib/debug"), and a function that may name another file to read in
 * place of an object's (NULL: none). */
extern const char *ta_elf_debug_root;
extern const char *(*ta_elf_path_hook)(const char *path);

/* files.c: a file the agent reads, opened read-only on a high fd; ta_out_close(slot) */
int ta_ro_open(const char *path, int *slot);
#endif
