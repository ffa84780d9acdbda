/* Configuration: TRACEAGENT_* environment variables, and TRACEAGENT_CONFIG=file.json with
 * the same keys (either "TRACEAGENT_OUTPUT" or "output"), both from the one table of keys
 * in config_keys.h. The environment wins over the file. A bad value is reported once,
 * naming the variable, and the default is used. Under secure execution (AT_SECURE) none of
 * it is read.
 *
 * cJSON is loaded with dlopen only when a config file is given, so the agent adds no
 * library to a process that does not ask for one. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config_keys.h"
#include "ta.h"

struct ta_config ta_cfg;

#define DEFAULT_BUFFER_KB 1024 /* 16384 records of 64 bytes per thread */
/* posix and stdio spans under 1 us stay out of the trace by default (nsys does the same for
 * OS runtime calls): `sort` of 50 MB wrote 5.6 M fwrite_unlocked events, a 1 GB trace. A
 * value given applies to every category's spans. */
#define DEFAULT_MIN_DURATION_NS 1000
#define DEFAULT_MIN_DURATION_MASK ((1u << TA_CAT_POSIX) | (1u << TA_CAT_STDIO))

static const char *const cat_keys[TA_CAT_N] = {"posix", "stdio", "hdf5", "cuda",
                                               "gpu", "markers", "agent"};

/* A bad value: one warning, naming the variable (or the config file and key), showing at
 * most 200 bytes of the value; the default stays. */
static void bad(const char *var, const char *val, const char *why)
{
    char shown[201];
    if ((size_t)ta_fmt(shown, sizeof shown, "%s", val) >= sizeof shown)
        memcpy(shown + sizeof shown - 4, "...", 4);
    if (!*val)
        ta_log(TA_LOG_WARN, "%s is empty: %s; using the default", var, why);
    else
        ta_log(TA_LOG_WARN, "%s=%s: %s; using the default", var, shown, why);
}
/* Comma-separated words from `words` (n of them) into a bit mask; -1 if one is unknown
 * (then *unknown, when given, is set and the known words' mask is returned instead). */
static long parse_list_u(const char *s, const char *const *words, int n, int allow_all,
                         int *unknown)
{
    long mask = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ') { p++; len--; }
        while (len && p[len - 1] == ' ') len--;
        int found = 0;
        if (allow_all && len == 3 && !strncmp(p, "all", 3)) {
            mask = (1l << n) - 1;
            found = 1;
        }
        for (int i = 0; i < n && !found; i++)
            if (strlen(words[i]) == len && !strncmp(p, words[i], len)) {
                mask |= 1l << i;
                found = 1;
            }
        if (!found && len) {
            if (!unknown)
                return -1;
            *unknown = 1;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return mask;
}
static long parse_list(const char *s, const char *const *words, int n, int allow_all)
{
    return parse_list_u(s, words, n, allow_all, NULL);
}

/* Words of TRACEAGENT_TRACE and TRACEAGENT_EXPORT that name no built-in category or
 * exporter may name one a plug-in adds (preloaded beside the agent, or named in
 * TRACEAGENT_PLUGINS): they are kept, and checked once the plug-ins are in
 * (ta_config_check_words, from ta_plugins_load); a word that names nothing then is a bad
 * value as any other. */
struct words {
    const char *var;
    const char *expect;
    const char *val; /* interned, "" when not set */
    int set, unknown;
};
static struct words trace_w = {"TRACEAGENT_TRACE",
                               "expected a comma list of posix, stdio, hdf5, cuda, gpu, "
                               "markers, all (or a category a plug-in adds)", "", 0, 0};
static struct words export_w = {"TRACEAGENT_EXPORT",
                                "expected a comma list of json, stats, lttng (or an "
                                "exporter a plug-in adds)", "", 0, 0};
static const char *setting_var; /* the name set_key reports a bad value under */
static const char *keep_words(struct words *w, const char *val, int unknown)
{
    uint32_t id = ta_intern_cstr(val);
    if (!id)
        return unknown ? w->expect : NULL; /* the string table is full: the known words */
    w->val = ta_str(id);
    /* a word found bad later is reported under the name it came by (a config file's key) */
    if (setting_var && ta_intern_cstr(setting_var))
        w->var = ta_str(ta_intern_cstr(setting_var));
    w->set = 1;
    w->unknown = unknown;
    return NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* One parser per key of config_keys.h: NULL when `val` is taken, else why it is not. */
static const char *const exp_words[] = {"json", "stats", "lttng"};
static const char *const log_words[] = {"error", "warn", "info", "debug"};

static const char *set_output(const char *val)
{
    if (!*val || strlen(val) >= sizeof ta_cfg.output - 64)
        return "not a usable directory name";
    strcpy(ta_cfg.output, val);
    return NULL;
}
static const char *set_export(const char *val)
{
    int unknown = 0;
    long m = parse_list_u(val, exp_words, 3, 0, &unknown);
    if (m <= 0 && !unknown) /* empty: nothing would be written */
        return export_w.expect;
    const char *why = keep_words(&export_w, val, unknown);
    if (!why)
        ta_cfg.exports = (uint32_t)m;
    return why;
}
static const char *set_trace(const char *val)
{
    int unknown = 0;
    long m = parse_list_u(val, cat_keys, TA_CAT_AGENT, 1, &unknown);
    if (m <= 0 && !unknown) /* empty: nothing would be traced */
        return trace_w.expect;
    const char *why = keep_words(&trace_w, val, unknown);
    if (!why) {
        ta_cfg.trace_mask = (uint32_t)m | (1u << TA_CAT_AGENT);
        ta_cfg.trace_all = m == (1l << TA_CAT_AGENT) - 1 && !unknown && strstr(val, "all");
    }
    return why;
}
static const char *set_plugins(const char *val)
{
    /* in the string table, not a buffer in ta_cfg: ta_cfg is cleared in every process's
     * start-up, and each of its pages is a page fault there */
    uint32_t id = ta_intern_cstr(val);
    if (*val && !id)
        return "cannot be kept (the string table is full)";
    ta_cfg.plugins = ta_str(id);
    return NULL;
}
static const char *set_buffer_kb(const char *val)
{
    uint64_t u;
    if (parse_u64(val, &u) || u < 4 || u > (1u << 20) || (u & (u - 1)))
        return "expected a power of two from 4 to 1048576";
    ta_cfg.buffer_kb = (uint32_t)u;
    return NULL;
}
static const char *set_min_duration_ns(const char *val)
{
    uint64_t u;
    if (parse_u64(val, &u))
        return "expected a number of nanoseconds";
    ta_cfg.min_duration_ns = u;
    ta_cfg.min_duration_mask = ~0u; /* a value given applies to every span */
    return NULL;
}
static const char *set_children(const char *val)
{
    if (strcmp(val, "0") && strcmp(val, "1"))
        return "expected 0 or 1";
    ta_cfg.children = val[0] == '1';
    return NULL;
}
static const char *set_stacks(const char *val)
{
    long m = parse_list(val, cat_keys, TA_CAT_AGENT, 1);
    if (m < 0)
        return "expected a comma list of categories";
    /* `all`: the categories plug-ins add too; never the agent's own records */
    if (m == (1l << TA_CAT_AGENT) - 1 && strstr(val, "all"))
        m = (long)(~0u & ~(1u << TA_CAT_AGENT));
    ta_cfg.stacks_mask = (uint32_t)m;
    return NULL;
}
static const char *set_stacks_every(const char *val)
{
    uint64_t u;
    if (parse_u64(val, &u) || u < 1 || u > 0xffffffffu)
        return "expected a number from 1";
    ta_cfg.stacks_every = (uint32_t)u;
    return NULL;
}
static const char *set_stacks_depth(const char *val)
{
    uint64_t u;
    if (parse_u64(val, &u) || u < 1 || u > TA_STACK_MAX)
        return "expected a number from 1 to 64";
    ta_cfg.stacks_depth = (uint32_t)u;
    return NULL;
}
static const char *set_log(const char *val)
{
    long m = parse_list(val, log_words, 4, 0);
    if (m <= 0 || (m & (m - 1)))
        return "expected one of error, warn, info, debug";
    ta_cfg.log_level = __builtin_ctzl(m);
    return NULL;
}
static const char *set_exclude(const char *val)
{
    ta_cfg.nexcludes = 0;
    const char *p = val;
    while (*p && ta_cfg.nexcludes < TA_MAX_EXCLUDES) {
        size_t len = strcspn(p, ":,");
        if (len) {
            uint32_t id = ta_intern(p, len);
            if (id) {
                ta_cfg.excludes[ta_cfg.nexcludes] = (char *)ta_str(id);
                ta_cfg.exclude_len[ta_cfg.nexcludes++] = len;
            }
        }
        p += len;
        if (*p)
            p++;
    }
    return NULL;
}
static const char *set_on_full(const char *val)
{
    if (strcmp(val, "wait") && strcmp(val, "drop"))
        return "expected wait or drop";
    ta_cfg.on_full_drop = val[0] == 'd';
    return NULL;
}
static const char *set_direct(const char *val)
{
    if (strcmp(val, "0") && strcmp(val, "1"))
        return "expected 0 or 1";
    ta_cfg.no_direct = val[0] == '0';
    return NULL;
}
static const char *set_clock(const char *val)
{
    if (!strcmp(val, "tsc"))
        ta_cfg.clock = TA_CLOCK_TSC;
    else if (!strcmp(val, "monotonic"))
        ta_cfg.clock = TA_CLOCK_MONOTONIC;
    else
        return "expected tsc or monotonic";
    return NULL;
}
static const char *set_config(const char *val) /* read by ta_config_load itself */
{
    (void)val;
    return NULL;
}

struct key {
    const char *name, *var;
    const char *(*set)(const char *val);
};
static const struct key keys[] = {
#define KEY(name, var, shrt, arg, help, dflt) {#name, var, set_##name},
    TA_CONFIG_KEYS(KEY)
#undef KEY
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int set_key(const struct key *k, const char *var, const char *val)
{
    setting_var = var;
    const char *why = k->set(val);
    if (why)
        bad(var, val, why);
    return why ? -1 : 0;
}

/* The key a config file names: "buffer_kb", "buffer-kb" or "TRACEAGENT_BUFFER_KB", any case. */
static const struct key *file_key(const char *s)
{
    if (!strncasecmp(s, "TRACEAGENT_", 11))
        s += 11;
    for (size_t i = 0; i < NKEYS; i++) {
        const char *n = keys[i].name, *p = s;
        for (; *n && *p; n++, p++) {
            char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p == '-' ? '_' : *p;
            if (c != *n)
                break;
        }
        if (!*n && !*p)
            return &keys[i];
    }
    return NULL;
}

/* A regular file, whole: NULL (warned) when it is not one, or cannot be read. A FIFO or a
 * terminal (/dev/stdin) would block start-up or eat the program's input: not opened for
 * reading beyond the open itself (O_NONBLOCK), never read. */
#define MAX_CONFIG_BYTES (16u << 20)
static char *read_config(const char *path, size_t *len, size_t *mapped)
{
    int fd = ta_sys_open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0);
    if (fd < 0) {
        ta_warn("TRACEAGENT_CONFIG=%s: cannot open the file (errno %d); ignored", path, errno);
        return NULL;
    }
    struct stat st;
    char *text = NULL;
    if (syscall(SYS_fstat, fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ta_warn("TRACEAGENT_CONFIG=%s: not a regular file (a pipe, a FIFO or a terminal is "
                "not read); ignored", path);
    } else if ((uint64_t)st.st_size > MAX_CONFIG_BYTES) {
        ta_warn("TRACEAGENT_CONFIG=%s: %lld bytes, more than the 16 MiB a config file may "
                "have; ignored", path, (long long)st.st_size);
    } else if ((text = ta_sys_mmap(*mapped = (size_t)st.st_size + 1))) {
        size_t n = 0;
        long r = 1;
        while (n < (size_t)st.st_size && (r = ta_sys_read(fd, text + n, (size_t)st.st_size - n)) > 0)
            n += (size_t)r;
        if (r < 0) {
            ta_warn("TRACEAGENT_CONFIG=%s: cannot read the file (errno %d); ignored", path, errno);
            ta_sys_munmap(text, *mapped);
            text = NULL;
        } else {
            text[n] = 0;
            *len = n;
        }
    }
    ta_sys_close(fd);
    return text;
}

/* The config file, through a cJSON loaded for the occasion. */
static void load_file(const char *path)
{
    typedef struct cj {
        struct cj *next, *prev, *child;
        int type;
        char *valuestring;
        int valueint;
        double valuedouble;
        char *string;
    } cj;
    size_t len = 0, mapped = 0;
    char *text = read_config(path, &len, &mapped);
    if (!text)
        return;
    void *h = dlopen("libcjson.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        ta_warn("TRACEAGENT_CONFIG=%s: cannot load libcjson.so.1 (install libcjson1); ignored",
                path);
        ta_sys_munmap(text, mapped);
        return;
    }
    cj *(*parse)(const char *) = (cj * (*)(const char *)) dlsym(h, "cJSON_Parse");
    void (*del)(cj *) = (void (*)(cj *))dlsym(h, "cJSON_Delete");
    cj *root = parse && del ? parse(text) : NULL;
    ta_sys_munmap(text, mapped);
    /* cJSON types: 1 false, 2 true, 8 number, 16 string, 64 object */
    if (!root || !(root->type & 64)) {
        ta_warn("TRACEAGENT_CONFIG=%s: not a JSON object; ignored", path);
    } else {
        /* two passes: "log" first, so that it governs the warnings about the rest */
        for (int pass = 0; pass < 2; pass++)
        for (cj *it = root->child; it; it = it->next) {
            const struct key *k = it->string ? file_key(it->string) : NULL;
            if ((k && k->set == set_log) != (pass == 0))
                continue;
            if (!k || k->set == set_config) {
                ta_warn("TRACEAGENT_CONFIG=%s: unknown key \"%s\"; ignored", path,
                        it->string ? it->string : "");
                continue;
            }
            char var[320], num[32];
            ta_fmt(var, sizeof var, "TRACEAGENT_CONFIG=%s: \"%s\"", path, it->string);
            const char *val;
            double d = it->valuedouble;
            if (it->type & 16) {
                val = it->valuestring;
            } else if (it->type & 8) {
                /* a whole number that a 64-bit integer holds; 1e300 once became negative */
                if (!(d > -9.2e18 && d < 9.2e18) || d != (double)(long long)d) {
                    ta_warn("%s: %s; using the default", var,
                            "a number out of range or not a whole number");
                    continue;
                }
                ta_fmt(num, sizeof num, "%lld", (long long)d);
                val = num;
            } else if (it->type & 3) {
                val = (it->type & 2) ? "1" : "0";
            } else {
                ta_warn("%s: not a string or number; ignored", var);
                continue;
            }
            if (!getenv(k->var)) /* the environment wins */
                set_key(k, var, val);
        }
    }
    if (root)
        del(root);
    dlclose(h);
}

/* A relative TRACEAGENT_CONFIG made absolute, for children that start elsewhere. */
static void absolutize_config(const char *file)
{
    char cwd[4096], abs[4096];
    if (file[0] == '/' || syscall(SYS_getcwd, cwd, sizeof cwd) <= 0)
        return;
    if (file[0] == '.' && file[1] == '/')
        file += 2;
    if ((size_t)ta_fmt(abs, sizeof abs, "%s/%s", cwd, file) < sizeof abs)
        setenv("TRACEAGENT_CONFIG", abs, 1);
}

void ta_config_load(void)
{
    memset(&ta_cfg, 0, sizeof ta_cfg);
    strcpy(ta_cfg.output, "./traceagent-out");
    ta_cfg.exports = TA_EXPORT_JSON | TA_EXPORT_STATS;
    ta_cfg.trace_mask = (1u << TA_CAT_N) - 1;
    ta_cfg.trace_all = 1;
    trace_w.set = trace_w.unknown = export_w.set = export_w.unknown = 0;
    ta_cfg.buffer_kb = DEFAULT_BUFFER_KB;
    ta_cfg.min_duration_ns = DEFAULT_MIN_DURATION_NS;
    ta_cfg.min_duration_mask = DEFAULT_MIN_DURATION_MASK;
    ta_cfg.children = 1;
    ta_cfg.stacks_every = 1;
    ta_cfg.stacks_depth = 32;
    ta_cfg.log_level = TA_LOG_WARN;
    if (getauxval(AT_SECURE)) {
        /* setuid, setgid, file capabilities: the invoking user's environment must not steer
         * a privileged process. No variable read, no file read or written, nothing
         * recorded, not a word on stderr; calls pass through (core.c stops here too). */
        ta_cfg.secure = 1;
        ta_cfg.trace_mask = 0;
        ta_cfg.exports = 0;
        ta_cfg.children = 0;
        ta_cfg.log_level = -1;
        return;
    }
    /* the log level first, so the rest can log. A bad variable is reported once per
     * process tree: it leaves the environment, so children do not report it again (they
     * use the default, as this process does) */
    for (size_t i = 0; i < NKEYS; i++) {
        const char *lv = keys[i].set == set_log ? getenv(keys[i].var) : NULL;
        if (lv && set_key(&keys[i], keys[i].var, lv))
            unsetenv(keys[i].var);
    }
    const char *file = getenv("TRACEAGENT_CONFIG");
    if (file && *file) {
        load_file(file);
        absolutize_config(file);
    }
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = keys[i].set == set_log ? NULL : getenv(keys[i].var);
        if (v && set_key(&keys[i], keys[i].var, v))
            unsetenv(keys[i].var);
    }
}

/* Is `word` one of the comma list's words? */
static int has_word(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *q = p;
        size_t l = len;
        while (l && *q == ' ') { q++; l--; }
        while (l && q[l - 1] == ' ') l--;
        if (l == wl && !strncmp(q, word, wl))
            return 1;
        p += len;
        if (*p)
            p++;
    }
    return 0;
}

bool ta_config_traces(const char *family, const char *cat)
{
    if (ta_cfg.secure)
        return false;
    if (!trace_w.set || ta_cfg.trace_all)
        return true;
    return (family && has_word(trace_w.val, family)) || (cat && has_word(trace_w.val, cat));
}

bool ta_config_exports(const char *name)
{
    return !ta_cfg.secure && (!export_w.set || has_word(export_w.val, name));
}

/* Each word that names nothing (`known` says which do, NULL: none beyond the built-in):
 * the value is bad, reported once as any bad value, and the default is used. */
static void check_words(struct words *w, int (*known)(const char *word))
{
    if (!w->set || !w->unknown)
        return;
    const char *const *builtin = w == &trace_w ? cat_keys : exp_words;
    int nb = w == &trace_w ? TA_CAT_AGENT : 3;
    for (const char *p = w->val; *p;) {
        size_t len = strcspn(p, ",");
        char word[64];
        const char *q = p;
        size_t l = len;
        while (l && *q == ' ') { q++; l--; }
        while (l && q[l - 1] == ' ') l--;
        int ok = !l || (w == &trace_w && l == 3 && !strncmp(q, "all", 3));
        for (int i = 0; i < nb && !ok; i++)
            ok = strlen(builtin[i]) == l && !strncmp(q, builtin[i], l);
        if (!ok && known && l < sizeof word) {
            memcpy(word, q, l);
            word[l] = 0;
            ok = known(word);
        }
        if (!ok) {
            bad(w->var, w->val, w->expect);
            unsetenv(w->var);
            w->set = w->unknown = 0;
            if (w == &trace_w) { /* all: also the categories plug-ins added already */
                ta_cfg.trace_mask = ~0u;
                ta_cfg.trace_all = 1;
            } else {
                ta_cfg.exports = TA_EXPORT_JSON | TA_EXPORT_STATS;
            }
            return;
        }
        p += len;
        if (*p)
            p++;
    }
}

void ta_config_check_words(int (*cat_known)(const char *), int (*exporter_known)(const char *))
{
    check_words(&trace_w, cat_known);
    check_words(&export_w, exporter_known);
}
