# shoal: one GNU Makefile (see STYLE.md §10).
#
#   make            build bin/shoald, bin/shoal-node, bin/shoal, lib/libshoal.*
#   make check      build and run every test; ends with "N passed, N failed"
#   make check SAN=1  the same under AddressSanitizer + UBSan (build-san/)
#   make demo       the Batch tutorial against an embedded shoald
#   make bench      benchmarks side by side with Azurite, xargs, GNU parallel
#   make fmt | lint | install [PREFIX=/usr/local DESTDIR=] | clean
#
# Dependencies are Debian packages found with pkg-config; when one is missing
# scripts/deps installs it (apt-get, and npm ci for the SDK tests).

PKGS := libmicrohttpd jansson sqlite3 expat libcrypto libcurl
TEST_PKGS := cmocka

ifeq ($(filter clean fmt help,$(MAKECMDGOALS)),)
DEPS_OK := $(shell pkg-config --exists $(PKGS) $(TEST_PKGS) 2>/dev/null && echo yes)
ifneq ($(DEPS_OK),yes)
$(info make: dependencies missing, running scripts/deps)
DEPS_RUN := $(shell ./scripts/deps >&2 || echo failed)
ifeq ($(DEPS_RUN),failed)
$(error scripts/deps failed)
endif
endif
endif

CC ?= cc
SAN ?= 0
WERROR ?= 1
PREFIX ?= /usr/local

ifeq ($(SAN),1)
BUILD := build-san
BIN := bin-san
LIBDIR := build-san/lib
OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
       -fno-omit-frame-pointer -DSHOAL_ASSERTS
LDSAN := -fsanitize=address,undefined
else
BUILD := build
BIN := bin
LIBDIR := lib
OPT := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong
LDSAN :=
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wold-style-definition -Wformat=2 -Wvla -Wpointer-arith \
        -Wwrite-strings -Wcast-align -Wundef -Wimplicit-fallthrough \
        -fno-common
ifeq ($(WERROR),1)
WARN += -Werror
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
          $(OPT) $(WARN) -fPIC -pthread -Isrc -Iinclude $(PKG_CFLAGS) \
          -include src/core/banned.h $(EXTRA_CFLAGS)
LDFLAGS := $(LDSAN) -pthread $(EXTRA_LDFLAGS)
LIBS := $(PKG_LIBS) -lm

src_of = $(wildcard src/$(1)/*.c)
obj_of = $(patsubst src/%.c,$(BUILD)/%.o,$(call src_of,$(1)))

CORE_OBJ := $(call obj_of,core)
SERVER_DIRS := http auth db blob queue batch notify
SERVER_OBJ := $(foreach d,$(SERVER_DIRS),$(call obj_of,$(d)))
CLIENT_OBJ := $(call obj_of,client)

SHOALD_OBJ := $(call obj_of,shoald)
NODE_OBJ := $(call obj_of,node)
CLI_OBJ := $(call obj_of,cli)

# Everything the daemon is made of but main: unit tests link it too.
LIBSHOALD := $(BUILD)/libshoald.a
LIBSHOAL_A := $(LIBDIR)/libshoal.a
LIBSHOAL_SO := $(LIBDIR)/libshoal.so

BINS := $(BIN)/shoald $(BIN)/shoal-node $(BIN)/shoal
EXAMPLES := $(BIN)/topnwords $(BIN)/tutorial $(BIN)/notify-example

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
CUNIT_SRC := $(wildcard tests/unit/client/test_*.c)
CUNIT_BIN := $(patsubst tests/unit/client/%.c,$(BUILD)/tests/client/%,$(CUNIT_SRC))
NUNIT_SRC := $(wildcard tests/unit/node/test_*.c)
NUNIT_BIN := $(patsubst tests/unit/node/%.c,$(BUILD)/tests/node/%,$(NUNIT_SRC))
# Node objects but the agent's main, for the node unit tests.
NODE_LIB_OBJ := $(filter-out $(BUILD)/node/main.o $(BUILD)/node/shoal_node.o,$(NODE_OBJ))

.PHONY: all check demo bench fmt lint install clean unit integ deps
all: $(BINS) $(LIBSHOAL_A) $(LIBSHOAL_SO) $(LIBDIR)/shoal.pc $(EXAMPLES)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBSHOALD): $(CORE_OBJ) $(SERVER_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBSHOAL_A): $(CLIENT_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBSHOAL_SO): $(CLIENT_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libshoal.so.0 $(LDFLAGS) -o $@ $^ $(LIBS)
	ln -sf libshoal.so $(LIBDIR)/libshoal.so.0

$(LIBDIR)/shoal.pc: scripts/shoal.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' $< > $@

$(BIN)/shoald: $(SHOALD_OBJ) $(LIBSHOALD)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/shoal-node: $(NODE_OBJ) $(LIBSHOAL_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/shoal: $(CLI_OBJ) $(LIBSHOAL_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Examples: the top-N-words task application, the tutorial, notifications.
$(BIN)/topnwords: examples/topnwords/topnwords.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

$(BIN)/tutorial: $(wildcard examples/tutorial/*.c) $(LIBSHOAL_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.c,$^) $(LIBSHOAL_A) $(LDFLAGS) $(LIBS)

$(BIN)/notify-example: $(wildcard examples/notify/*.c) $(LIBSHOAL_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.c,$^) $(LIBSHOAL_A) $(LDFLAGS) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/lib/*.h) $(LIBSHOALD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib -o $@ $< $(LIBSHOALD) $(LDFLAGS) $(LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/client/%: tests/unit/client/%.c $(wildcard tests/lib/*.h) $(LIBSHOAL_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib -o $@ $< $(LIBSHOAL_A) $(LDFLAGS) $(LIBS) $(CMOCKA_LIBS)

$(BUILD)/tests/node/%: tests/unit/node/%.c $(wildcard tests/lib/*.h) $(NODE_LIB_OBJ) $(LIBSHOALD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/lib -o $@ $< $(NODE_LIB_OBJ) $(LIBSHOALD) $(LDFLAGS) $(LIBS) $(CMOCKA_LIBS)

node_modules/.package-lock.json: package-lock.json
	./scripts/deps
	@touch $@

unit: $(UNIT_BIN) $(CUNIT_BIN) $(NUNIT_BIN)

check: all unit node_modules/.package-lock.json
	SHOAL_BIN=$(abspath $(BIN)) SHOAL_BUILD=$(abspath $(BUILD)) SAN=$(SAN) \
	    tests/run $(UNIT_BIN) $(CUNIT_BIN) $(NUNIT_BIN)

demo: all
	SHOAL_BIN=$(abspath $(BIN)) scripts/demo

bench: all node_modules/.package-lock.json
	SHOAL_BIN=$(abspath $(BIN)) bench/run

fmt:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'examples/*.c' 'include/*.h')

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance \
	    --suppress=missingIncludeSystem -Isrc -Iinclude src

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBSHOAL_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSHOAL_SO) $(DESTDIR)$(PREFIX)/lib/libshoal.so.0
	ln -sf libshoal.so.0 $(DESTDIR)$(PREFIX)/lib/libshoal.so
	install -m 644 include/shoal.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(LIBDIR)/shoal.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

clean:
	rm -rf build build-san bin bin-san lib

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
