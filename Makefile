# traceagent: `make` builds the agent and the CLI; `make demo`, `make test`, `make bench`.
# C11, gcc, plain GNU make. The agent links none of CUDA, HDF5, LTTng or cJSON.

CC      ?= gcc
PREFIX  ?= /usr/local
BUILD   := build
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
BASEFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) -pthread

AGENT_SRC := $(sort $(wildcard agent/*.c exporters/*.c))
AGENT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_SRC))
NOP_OBJ   := $(patsubst %.c,$(BUILD)/obj-nop/%.o,$(AGENT_SRC))
ASAN_OBJ  := $(patsubst %.c,$(BUILD)/obj-asan/%.o,$(AGENT_SRC))
CLI_SRC   := $(sort $(wildcard viewer/*.c))
CLI_OBJ   := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRC))

LIB     := $(BUILD)/lib/libtraceagent.so
NOPLIB  := $(BUILD)/lib/libtraceagent-nop.so
ASANLIB := $(BUILD)/lib/libtraceagent-asan.so
CLI     := $(BUILD)/bin/traceagent

# -fno-math-errno: sqrt is an instruction, and the agent needs no libm (one library less
# to load into every process: start-up is counted in page faults on these machines)
AGENT_CFLAGS := $(BASEFLAGS) $(CFLAGS) -Iinclude -fPIC -fvisibility=hidden -ftls-model=initial-exec \
                -fno-semantic-interposition -fno-math-errno -Iagent -Iexporters -MMD -MP
AGENT_LDFLAGS := -shared -Wl,--version-script=agent/libtraceagent.map -Wl,-z,now -Wl,--sort-section=name \
                 -Wl,-z,relro -Wl,--no-undefined
AGENT_LIBS := -ldl -lpthread

.PHONY: all deps deps-debian deps-browser demo test test-asan test-gpu bench install clean
all: $(LIB) $(NOPLIB) $(CLI) lttng cupti

$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -c $< -o $@

# The no-op build: interposition and resolution without recording (bench/ splits the cost).
$(BUILD)/obj-nop/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) -DTA_NOP=1 -c $< -o $@

# AddressSanitizer + UBSan build of the agent (make test-asan): run with the ASan runtime
# in LD_PRELOAD, before libc (tests/run.sh --asan says how).
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer
$(BUILD)/obj-asan/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_CFLAGS) $(ASAN_FLAGS) -c $< -o $@

$(ASANLIB): $(ASAN_OBJ) agent/libtraceagent.map
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_LDFLAGS) $(ASAN_FLAGS) -o $@ $(ASAN_OBJ) $(AGENT_LIBS)

$(LIB): $(AGENT_OBJ) agent/libtraceagent.map
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_LDFLAGS) -o $@ $(AGENT_OBJ) $(AGENT_LIBS)

$(NOPLIB): $(NOP_OBJ) agent/libtraceagent.map
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_LDFLAGS) -o $@ $(NOP_OBJ) $(AGENT_LIBS)

$(CLI): $(CLI_SRC) $(wildcard viewer/*.h) agent/config_keys.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Iinclude -o $@ $(CLI_SRC) -lcjson -lm

# The LTTng exporter (exporters/lttng/, TRACEAGENT_EXPORT=lttng): libtraceagent-lttng.so,
# which the agent loads when asked, sets liblttng-ust's environment and loads
# libtraceagent-lttng-ust.so, the exporter and its tracepoint provider, linked with
# liblttng-ust. Built only where liblttng-ust's headers are (liblttng-ust-dev).
LTTNG_FRONT := $(BUILD)/lib/libtraceagent-lttng.so
LTTNG_UST   := $(BUILD)/lib/libtraceagent-lttng-ust.so
HAVE_LTTNG  := $(shell echo '\#include <lttng/tracepoint.h>' | $(CC) -E -x c - >/dev/null 2>&1 && echo 1)
PLUGIN_CFLAGS := $(BASEFLAGS) $(CFLAGS) -Iinclude -fPIC -fvisibility=hidden
.PHONY: lttng
ifeq ($(HAVE_LTTNG),1)
lttng: $(LTTNG_FRONT) $(LTTNG_UST)
$(LTTNG_FRONT): exporters/lttng/front.c include/traceagent_plugin.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -shared -Wl,--no-undefined -o $@ $< -ldl
$(LTTNG_UST): exporters/lttng/provider.c exporters/lttng/tp.h include/traceagent_plugin.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -Iexporters/lttng -shared -Wl,--no-undefined -o $@ $< -llttng-ust -ldl
else
lttng:
	@echo "lttng: <lttng/tracepoint.h> not found: the LTTng exporter is not built (make deps installs liblttng-ust-dev)"
endif

# The CUPTI module (cupti/, issue 16): libtraceagent-cupti.so, which the CUDA driver loads
# into processes that use CUDA (CUDA_INJECTION64_PATH, set by the agent) and NVTX loads at
# a first NVTX call (NVTX_INJECTION64_PATH). Built against the CUDA headers where
# $(CUDA_HOME) has them and libcupti; skipped otherwise. The agent itself links no CUDA.
CUDA_HOME ?= $(if $(wildcard /usr/local/cuda/include/cupti.h),/usr/local/cuda,$(firstword $(wildcard /usr/local/cuda-*)))
CUPTI_INC := $(firstword $(wildcard $(CUDA_HOME)/include/cupti.h $(CUDA_HOME)/extras/CUPTI/include/cupti.h))
CUPTI_LIBDIR := $(patsubst %/,%,$(dir $(firstword $(wildcard $(CUDA_HOME)/lib64/libcupti.so $(CUDA_HOME)/extras/CUPTI/lib64/libcupti.so $(CUDA_HOME)/targets/*/lib/libcupti.so))))
CUPTI_MOD := $(BUILD)/lib/libtraceagent-cupti.so
.PHONY: cupti
ifneq ($(and $(CUPTI_INC),$(CUPTI_LIBDIR)),)
cupti: $(CUPTI_MOD)
# libcupti is not linked: the module loads it when the driver calls it (cupti/README.md),
# by its soname, else by this file
CUPTI_SONAME = $(shell readelf -d $(CUPTI_LIBDIR)/libcupti.so 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
$(CUPTI_MOD): cupti/cupti.c include/traceagent_plugin.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -I$(dir $(CUPTI_INC)) -I$(CUDA_HOME)/include -shared -Wl,--no-undefined \
	    -DTA_CUPTI_SONAME='"$(or $(CUPTI_SONAME),libcupti.so)"' \
	    -DTA_CUPTI_PATH='"$(CUPTI_LIBDIR)/$(or $(CUPTI_SONAME),libcupti.so)"' \
	    -o $@ $< -Wl,-rpath,$(CUPTI_LIBDIR) -ldl -lpthread
else
cupti:
	@echo "cupti: no cupti.h and libcupti under CUDA_HOME=$(CUDA_HOME): the CUDA module is not built (set CUDA_HOME)"
endif

-include $(AGENT_OBJ:.o=.d) $(NOP_OBJ:.o=.d) $(ASAN_OBJ:.o=.d)

# Debian packages, only those missing. Safe to run again. chromium and nodejs: the browser
# test (tests/t60_browser.sh); its npm packages come next (deps-browser).
DEPS := gcc make libc6-dev libcjson-dev zlib1g-dev libunwind-dev python3 python3-numpy \
        python3-h5py libhdf5-dev strace procps jq \
        lttng-tools liblttng-ust-dev babeltrace2 chromium nodejs
deps: deps-debian deps-browser
deps-debian:
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	    echo "deps: missing Debian packages: $$missing"; \
	    echo "deps: run 'sudo make deps' or 'sudo apt-get install $$missing'"; exit 1; fi; \
	echo "deps: installing $$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    && echo "deps: done"

# The browser test's npm packages (speedscope, playwright-core: no browser download), as
# tests/browser/package-lock.json pins them, in tests/browser/node_modules. Runs `npm ci`
# only when the lock file changed since the last install (a stamp holds its checksum).
# Debian's nodejs has no npm: then the npm package is installed (as root).
BROWSER := tests/browser
deps-browser: deps-debian
	@want=$$(sha256sum $(BROWSER)/package-lock.json | cut -d' ' -f1); \
	if [ "$$(cat $(BROWSER)/node_modules/.ta-lock-sha 2>/dev/null)" = "$$want" ]; then \
	    echo "deps: browser test packages present"; exit 0; fi; \
	if ! command -v npm >/dev/null; then \
	    if [ "$$(id -u)" != 0 ]; then echo "deps: no npm: run 'sudo make deps'"; exit 1; fi; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm \
	        >/dev/null || exit 1; fi; \
	echo "deps: npm ci in $(BROWSER)"; \
	(cd $(BROWSER) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) && \
	    echo "$$want" > $(BROWSER)/node_modules/.ta-lock-sha

demo: deps all
	@bash samples/demo.sh

test: deps all
	@bash tests/run.sh

# The suite against the sanitized agent; tests that cannot run under it say why and skip.
test-asan: deps all $(ASANLIB)
	@bash tests/run.sh --asan

# The checks of issue 16 on a GPU (tests/gpu/run.sh: one script, < 8 minutes, a dated report
# under $OUT or bench/results/); skips in one line without an NVIDIA GPU.
test-gpu: all
	@bash tests/gpu/run.sh

bench: deps all
	@bash bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/share/traceagent/python
	install -m 755 $(LIB) $(NOPLIB) $(DESTDIR)$(PREFIX)/lib/
	for f in $(LTTNG_FRONT) $(LTTNG_UST) $(CUPTI_MOD); do [ ! -f $$f ] || install -m 755 $$f $(DESTDIR)$(PREFIX)/lib/; done
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/traceagent.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 python/traceagent.py $(DESTDIR)$(PREFIX)/share/traceagent/python/

clean:
	rm -rf $(BUILD)
