/* The configuration keys: the one table that the agent's environment variables, its config
 * file (TRACEAGENT_CONFIG) and `traceagent run`'s flags are all made from, so that they
 * cannot drift apart. README.md's table lists the same keys (tests/t21_config_edges.sh
 * checks that every key below is there, and takes every key all three ways).
 *
 *   X(name, VAR, short, arg, help, default)
 *   name     the key in the config file (also "TRACEAGENT_<NAME>", any case) and, with '_'
 *            as '-', the `traceagent run` flag (--buffer-kb); the agent's parser for it is
 *            set_<name> in agent/config.c
 *   VAR      the environment variable
 *   short    a one-letter flag, or 0
 *   arg      what the flag takes, for --help
 *   help     one line for --help
 *   default  as --help shows it
 *
 * `config` is the file itself: environment and flag only. Included by agent/config.c and
 * viewer/main.c. */
#ifndef TA_CONFIG_KEYS_H
#define TA_CONFIG_KEYS_H

#define TA_CONFIG_KEYS(X)                                                                    \
    X(output, "TRACEAGENT_OUTPUT", 'o', "DIR",                                               \
      "output directory (created if missing)", "./traceagent-out")                          \
    X(export, "TRACEAGENT_EXPORT", 0, "LIST",                                                \
      "comma list of json, stats, lttng, or exporters plug-ins add",                         \
      "json,stats")                                                                          \
    X(trace, "TRACEAGENT_TRACE", 0, "LIST",                                                  \
      "comma list of posix, stdio, hdf5, cuda, gpu, markers, or all", "all")                 \
    X(buffer_kb, "TRACEAGENT_BUFFER_KB", 0, "N",                                             \
      "per-thread ring size in KiB, a power of two from 4 to 1048576", "1024")               \
    X(min_duration_ns, "TRACEAGENT_MIN_DURATION_NS", 0, "NS",                                \
      "spans shorter than NS are counted in the stats but not written to the trace",         \
      "1000 for posix and stdio")                                                            \
    X(children, "TRACEAGENT_CHILDREN", 0, "0|1", "trace child processes", "1")               \
    X(stacks, "TRACEAGENT_STACKS", 0, "LIST",                                                \
      "call stacks (libunwind) on spans of these categories, or all", "none")                \
    X(stacks_every, "TRACEAGENT_STACKS_EVERY", 0, "N",                                       \
      "one record in N of the stacks' categories, per thread, gets a stack", "1")            \
    X(stacks_depth, "TRACEAGENT_STACKS_DEPTH", 0, "N",                                       \
      "frames kept at most (the innermost), 1 to 64", "32")                                  \
    X(log, "TRACEAGENT_LOG", 0, "LEVEL", "error, warn, info or debug (on stderr)", "warn")   \
    X(exclude, "TRACEAGENT_EXCLUDE", 0, "PREFIXES",                                          \
      "path prefixes not traced, ':' or ',' separated", "none")                              \
    X(on_full, "TRACEAGENT_ON_FULL", 0, "wait|drop",                                         \
      "a thread whose ring is full waits for the drainer, or drops and counts", "wait")      \
    X(direct, "TRACEAGENT_DIRECT", 0, "0|1",                                                 \
      "pread, pwrite, lseek, stat make their system call in the wrapper", "1")               \
    X(clock, "TRACEAGENT_CLOCK", 0, "tsc|monotonic",                                         \
      "ticks on the hot path", "tsc where the kernel's clock is the TSC")                    \
    X(plugins, "TRACEAGENT_PLUGINS", 0, "PATHS",                                             \
      "plug-ins to load (shared objects), ':' or ',' separated", "none")                     \
    X(config, "TRACEAGENT_CONFIG", 0, "FILE", "a JSON object with these keys", "none")

#endif
