# ngrokd: a plain GNU Makefile.  Output goes to build/ (BUILD=dir to move it).
#   make            build ngrokd and ngrokctl (installs missing Debian packages,
#                   fetches and builds the pinned lwIP and wolfSSL once)
#   make run        build, then run the daemon in the foreground (example config)
#   make test       build and run every test; the last line is "N passed, N failed"
#   make bench      benchmarks (ratios against a baseline measured in the same run)
#   make SANITIZE=1 AddressSanitizer + UndefinedBehaviorSanitizer build (own dir)
#   make V=1        show the commands
#   make WERROR=1   warnings are errors (CI sets it)

BUILD    ?= build
OS       := $(shell uname -s)
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
VERSION  := $(shell cat VERSION)

# Third-party code is shared by every BUILD dir (it is built once).
TP       ?= build/third_party
LWIPDIR  := $(TP)/lwip-2.2.1
WOLFSRC  := $(TP)/wolfssl-5.7.2-stable
WOLFDIR  := $(TP)/wolfssl
WOLFLIB  := $(WOLFDIR)/lib/libwolfssl.a
DEPS_OK  := $(TP)/.deps-ok

ifeq ($(FUZZ),1)
# libFuzzer builds: clang, every object instrumented for coverage.
OUT      := $(BUILD)/fuzz
CC       := clang
SANFLAGS := -fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer
else ifeq ($(SANITIZE),1)
OUT      := $(BUILD)/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
OUT      := $(BUILD)/release
SANFLAGS :=
endif

CC       ?= cc
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wformat=2 -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN     += -Werror
endif
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT      ?= -O2 -g
CPPFLAGS += -I. -isystem $(LWIPDIR)/src/include -Ithird_party/lwip/port/include \
            -isystem $(WOLFDIR)/include \
            -DNGROKD_VERSION='"$(VERSION)"' -D_GNU_SOURCE
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) $(SANFLAGS) -MMD -MP
LDFLAGS  += -pie -Wl,-z,relro,-z,now $(SANFLAGS)
LIBS     := $(WOLFLIB) -lcurl -lyaml -lcjson -lpthread -lm
TEST_LIBS := -lcmocka -lssl -lcrypto

# Platform files: one per OS behind one header (tun_linux.c / tun_darwin.c,
# loop_epoll.c / loop_kqueue.c).
ifeq ($(OS),Darwin)
PLAT_OUT := %_linux.c %_epoll.c
else
PLAT_OUT := %_darwin.c %_kqueue.c
endif

MODULES  := daemon tun stack tunnel discovery control
MAINS    := daemon/main.c control/ngrokctl.c
LIB_SRCS := $(filter-out $(MAINS) $(PLAT_OUT),$(wildcard $(addsuffix /*.c,$(MODULES))))
LIB_OBJS := $(LIB_SRCS:%.c=$(OUT)/%.o)

# lwIP: only the files a NO_SYS raw-API IPv4 TCP/UDP/ICMP stack uses.
LWIP_SRCS := $(addprefix $(LWIPDIR)/src/core/, init.c def.c inet_chksum.c ip.c mem.c \
             memp.c netif.c pbuf.c tcp.c tcp_in.c tcp_out.c timeouts.c udp.c raw.c \
             stats.c ipv4/ip4.c ipv4/ip4_addr.c ipv4/icmp.c ipv4/ip4_frag.c)
LWIP_OBJS := $(patsubst $(LWIPDIR)/src/%.c,$(OUT)/lwip/%.o,$(LWIP_SRCS))
LWIP_CFLAGS := -std=gnu11 $(OPT) -fPIE $(SANFLAGS) -w -MMD -MP

UNIT_SRCS := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(OUT)/%)
FAKE_SRCS := $(wildcard tests/fake/*.c)
FAKE_BINS := $(FAKE_SRCS:%.c=$(OUT)/%)
FUZZ_SRCS := $(wildcard tests/fuzz/*_fuzz.c)
FUZZ_BINS := $(FUZZ_SRCS:%.c=$(OUT)/%)
FUZZ_SECONDS ?= 10
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(BENCH_SRCS:%.c=$(OUT)/%)

NGROKD   := $(OUT)/ngrokd
NGROKCTL := $(OUT)/ngrokctl

.PHONY: all deps third_party run test test-build bench fuzz fuzz-build clean distclean check-config
.DEFAULT_GOAL := all

all: $(NGROKD) $(NGROKCTL)
	$(Q)ln -sf $(notdir $(OUT))/ngrokd $(BUILD)/ngrokd
	$(Q)ln -sf $(notdir $(OUT))/ngrokctl $(BUILD)/ngrokctl

# --- dependencies -----------------------------------------------------------
$(DEPS_OK): third_party/deps.sh
	$(Q)mkdir -p $(TP)
	$(Q)sh third_party/deps.sh
	$(Q)touch $@

deps: $(DEPS_OK)

$(LWIPDIR)/.fetched: third_party/checksums | $(DEPS_OK)
	$(Q)rm -rf $(LWIPDIR)
	$(Q)sh third_party/fetch.sh lwip $(TP)
	$(Q)touch $@

$(WOLFSRC)/.fetched: third_party/checksums | $(DEPS_OK)
	$(Q)rm -rf $(WOLFSRC)
	$(Q)sh third_party/fetch.sh wolfssl $(TP)
	$(Q)touch $@

$(WOLFLIB): $(WOLFSRC)/.fetched third_party/build-wolfssl.sh
	@echo "  WOLFSSL  building (once; a few minutes)"
	$(Q)sh third_party/build-wolfssl.sh $(WOLFSRC) $(abspath $(WOLFDIR)) > $(TP)/wolfssl-build.log 2>&1 || \
	    { tail -30 $(TP)/wolfssl-build.log; exit 1; }

third_party: $(WOLFLIB) $(LWIPDIR)/.fetched

# Every object waits for the third-party headers.
$(LIB_OBJS) $(OUT)/daemon/main.o $(OUT)/control/ngrokctl.o: | $(WOLFLIB) $(LWIPDIR)/.fetched

# --- our code ---------------------------------------------------------------
$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC       $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(OUT)/lwip/%.o: $(LWIPDIR)/src/%.c | $(LWIPDIR)/.fetched
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC       lwip/$*.c")
	$(Q)$(CC) $(CPPFLAGS) $(LWIP_CFLAGS) -c $< -o $@

$(LWIP_SRCS): $(LWIPDIR)/.fetched
# lwIP's headers are -isystem, so -MMD leaves our port headers out of its
# dependency files: say it here, or an option change would not rebuild lwIP.
LWIP_PORT_HDRS := $(wildcard third_party/lwip/port/include/*.h third_party/lwip/port/include/arch/*.h)
$(LWIP_OBJS) $(LIB_OBJS): $(LWIP_PORT_HDRS)

$(OUT)/liblwip.a: $(LWIP_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/libngrokd.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(NGROKD): $(OUT)/daemon/main.o $(OUT)/libngrokd.a $(OUT)/liblwip.a $(WOLFLIB)
	@$(if $(Q),echo "  LD       $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(OUT)/libngrokd.a $(OUT)/liblwip.a $(LIBS)

$(NGROKCTL): $(OUT)/control/ngrokctl.o $(OUT)/libngrokd.a $(OUT)/liblwip.a $(WOLFLIB)
	@$(if $(Q),echo "  LD       $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(OUT)/libngrokd.a $(OUT)/liblwip.a $(LIBS)

# --- tests ------------------------------------------------------------------
$(OUT)/tests/unit/%: tests/unit/%.c $(OUT)/libngrokd.a $(OUT)/liblwip.a $(WOLFLIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST     $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< \
	    $(OUT)/libngrokd.a $(OUT)/liblwip.a $(LIBS) $(TEST_LIBS)

$(OUT)/tests/fake/%: tests/fake/%.c $(OUT)/libngrokd.a $(OUT)/liblwip.a $(WOLFLIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FAKE     $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(OUT)/libngrokd.a $(OUT)/liblwip.a $(LIBS) $(TEST_LIBS)

$(OUT)/tests/bench/%: tests/bench/%.c $(OUT)/libngrokd.a $(OUT)/liblwip.a $(WOLFLIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(OUT)/libngrokd.a $(OUT)/liblwip.a $(LIBS) $(TEST_LIBS)

$(OUT)/tests/fuzz/%: tests/fuzz/%.c $(OUT)/libngrokd.a $(OUT)/liblwip.a $(WOLFLIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ     $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer $(LDFLAGS) -o $@ $< \
	    $(OUT)/libngrokd.a $(OUT)/liblwip.a $(LIBS)

fuzz-build: $(FUZZ_BINS)

# make fuzz [FUZZ_SECONDS=N] [FUZZ_TARGETS=name...]: each target for N seconds.
fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	$(Q)OUT=$(BUILD)/fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_TARGETS)

test-build: all $(UNIT_BINS) $(FAKE_BINS)

# The runner prints one line per test and ends with "N passed, N failed".
test: test-build
	$(Q)OUT=$(OUT) sh tests/run.sh $(TESTS)

bench: all $(FAKE_BINS) $(BENCH_BINS) $(UNIT_BINS)
	$(Q)OUT=$(OUT) bash tests/bench/run.sh

run: all
	$(NGROKD) --config docs/config.example.yml --foreground

check-config: all
	$(NGROKD) --config docs/config.example.yml --check

clean:
	rm -rf $(BUILD)/release $(BUILD)/asan $(BUILD)/fuzz $(BUILD)/ngrokd $(BUILD)/ngrokctl

# Also forgets the fetched and built third-party code.
distclean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
include install.mk
include soak.mk
