/* Configuration: TRACEAGENT_* environment variables, and TRACEAGENT_CONFIG=file.json with
 * the same keys (either "TRACEAGENT_OUTPUT" or "output"). The environment wins over the
 * file. A bad value is reported once, naming the variable, and the default is used.
 *
 * cJSON is loaded with dlopen only when a config file is given, so the agent adds no
 * library to a process that does not ask for one. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void bad(const char *var, const char *val, const char *why)
{
    ta_log(TA_LOG_WARN, "%s=%s: %s; using the default", var, val, why);
}

/* Comma-separated words from `words` (n of them) into a bit mask; -1 if one is unknown. */
static long parse_list(const char *s, const char *const *words, int n, int allow_all)
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
        if (!found && len)
            return -1;
        if (!e)
            break;
        p = e + 1;
    }
    return mask;
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

static void set_key(const char *var, const char *val)
{
    static const char *const exp_words[] = {"json", "stats", "lttng"};
    static const char *const log_words[] = {"error", "warn", "info", "debug"};
    uint64_t u;
    long m;
    if (!strcmp(var, "TRACEAGENT_OUTPUT")) {
        if (!*val || strlen(val) >= sizeof ta_cfg.output - 64)
            bad(var, val, "not a usable directory name");
        else
            strcpy(ta_cfg.output, val);
    } else if (!strcmp(var, "TRACEAGENT_EXPORT")) {
        if ((m = parse_list(val, exp_words, 3, 0)) < 0)
            bad(var, val, "expected a comma list of json, stats, lttng");
        else
            ta_cfg.exports = (uint32_t)m;
    } else if (!strcmp(var, "TRACEAGENT_TRACE")) {
        if ((m = parse_list(val, cat_keys, TA_CAT_AGENT, 1)) < 0)
            bad(var, val, "expected a comma list of posix, stdio, hdf5, cuda, gpu, markers, all");
        else
            ta_cfg.trace_mask = (uint32_t)m | (1u << TA_CAT_AGENT);
    } else if (!strcmp(var, "TRACEAGENT_BUFFER_KB")) {
        if (parse_u64(val, &u) || u < 4 || u > (1u << 20) || (u & (u - 1)))
            bad(var, val, "expected a power of two from 4 to 1048576");
        else
            ta_cfg.buffer_kb = (uint32_t)u;
    } else if (!strcmp(var, "TRACEAGENT_MIN_DURATION_NS")) {
        if (parse_u64(val, &u))
            bad(var, val, "expected a number of nanoseconds");
        else {
            ta_cfg.min_duration_ns = u;
            ta_cfg.min_duration_mask = ~0u;
        }
    } else if (!strcmp(var, "TRACEAGENT_CHILDREN")) {
        if (strcmp(val, "0") && strcmp(val, "1"))
            bad(var, val, "expected 0 or 1");
        else
            ta_cfg.children = val[0] == '1';
    } else if (!strcmp(var, "TRACEAGENT_ON_FULL")) {
        if (strcmp(val, "wait") && strcmp(val, "drop"))
            bad(var, val, "expected wait or drop");
        else
            ta_cfg.on_full_drop = val[0] == 'd';
    } else if (!strcmp(var, "TRACEAGENT_DIRECT")) {
        if (strcmp(val, "0") && strcmp(val, "1"))
            bad(var, val, "expected 0 or 1");
        else
            ta_cfg.no_direct = val[0] == '0';
    } else if (!strcmp(var, "TRACEAGENT_STACKS")) {
        if ((m = parse_list(val, cat_keys, TA_CAT_AGENT, 1)) < 0)
            bad(var, val, "expected a comma list of categories");
        else
            ta_cfg.stacks_mask = (uint32_t)m;
    } else if (!strcmp(var, "TRACEAGENT_LOG")) {
        if ((m = parse_list(val, log_words, 4, 0)) <= 0 || (m & (m - 1)))
            bad(var, val, "expected one of error, warn, info, debug");
        else
            ta_cfg.log_level = __builtin_ctzl(m);
    } else if (!strcmp(var, "TRACEAGENT_EXCLUDE")) {
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
    }
}

static const char *const vars[] = {
    "TRACEAGENT_LOG",    "TRACEAGENT_OUTPUT",          "TRACEAGENT_EXPORT",
    "TRACEAGENT_TRACE",  "TRACEAGENT_BUFFER_KB",       "TRACEAGENT_MIN_DURATION_NS",
    "TRACEAGENT_CHILDREN", "TRACEAGENT_STACKS",        "TRACEAGENT_EXCLUDE",
    "TRACEAGENT_ON_FULL", "TRACEAGENT_DIRECT",
};
#define NVARS (sizeof vars / sizeof vars[0])

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
    void *h = dlopen("libcjson.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        ta_warn("TRACEAGENT_CONFIG=%s: cannot load libcjson.so.1 (install libcjson1); ignored",
                path);
        return;
    }
    cj *(*parse)(const char *) = (cj * (*)(const char *)) dlsym(h, "cJSON_Parse");
    void (*del)(cj *) = (void (*)(cj *))dlsym(h, "cJSON_Delete");
    static char text[65536];
    int fd = ta_sys_open(path, 0, 0);
    long n = fd >= 0 ? ta_sys_read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        ta_sys_close(fd);
    if (n < 0 || !parse || !del) {
        ta_warn("TRACEAGENT_CONFIG=%s: cannot read the file; ignored", path);
        dlclose(h);
        return;
    }
    text[n] = 0;
    cj *root = parse(text);
    if (!root || !root->child) {
        ta_warn("TRACEAGENT_CONFIG=%s: not a JSON object; ignored", path);
    } else {
        for (cj *it = root->child; it; it = it->next) {
            char var[128], val[4096];
            if (!it->string || strlen(it->string) > 80)
                continue;
            if (strncmp(it->string, "TRACEAGENT_", 11))
                ta_fmt(var, sizeof var, "TRACEAGENT_%s", it->string);
            else
                ta_fmt(var, sizeof var, "%s", it->string);
            for (char *c = var; *c; c++)
                if (*c >= 'a' && *c <= 'z')
                    *c = (char)(*c - 'a' + 'A');
            int known = 0;
            for (size_t i = 0; i < NVARS; i++)
                known |= !strcmp(vars[i], var);
            if (!known) {
                ta_warn("TRACEAGENT_CONFIG=%s: unknown key \"%s\"; ignored", path, it->string);
                continue;
            }
            /* cJSON types: 8 number, 16 string, 1 false, 2 true */
            if (it->type & 16)
                ta_fmt(val, sizeof val, "%s", it->valuestring);
            else if (it->type & 8)
                ta_fmt(val, sizeof val, "%lld", (long long)it->valuedouble);
            else if (it->type & 3)
                ta_fmt(val, sizeof val, "%d", (it->type & 2) ? 1 : 0);
            else {
                ta_warn("TRACEAGENT_CONFIG=%s: \"%s\" is not a string or number; ignored", path,
                        it->string);
                continue;
            }
            if (!getenv(var))
                set_key(var, val);
        }
    }
    if (root)
        del(root);
    dlclose(h);
}

void ta_config_load(void)
{
    memset(&ta_cfg, 0, sizeof ta_cfg);
    strcpy(ta_cfg.output, "./traceagent-out");
    ta_cfg.exports = TA_EXPORT_JSON | TA_EXPORT_STATS;
    ta_cfg.trace_mask = (1u << TA_CAT_N) - 1;
    ta_cfg.buffer_kb = DEFAULT_BUFFER_KB;
    ta_cfg.min_duration_ns = DEFAULT_MIN_DURATION_NS;
    ta_cfg.min_duration_mask = DEFAULT_MIN_DURATION_MASK;
    ta_cfg.children = 1;
    ta_cfg.log_level = TA_LOG_WARN;
    const char *lv = getenv("TRACEAGENT_LOG"); /* first, so the rest can log */
    if (lv)
        set_key("TRACEAGENT_LOG", lv);
    const char *file = getenv("TRACEAGENT_CONFIG");
    if (file && *file)
        load_file(file);
    for (size_t i = 1; i < NVARS; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            set_key(vars[i], v);
    }
    if (ta_cfg.stacks_mask)
        ta_info("TRACEAGENT_STACKS: call stacks are not collected by this version yet");
    if (ta_cfg.exports & TA_EXPORT_LTTNG)
        ta_warn("TRACEAGENT_EXPORT: lttng export is not in this version yet; ignored");
}
