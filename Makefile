# mmap-labs: small C experiments that make Linux shared memory visible.
# `make help` lists what is here.

CC       ?= cc
CFLAGS   ?= -std=c11 -O2 -g -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -Ilabs/common
LDLIBS   += -lpthread -lrt
BUILD    ?= build
# Debian's python3-pytest serves /usr/bin/python3, whatever `python3` is first on PATH.
PYTHON   ?= /usr/bin/python3
PYTEST_ARGS ?=
export BUILD PYTHON

LAB_DIRS := $(sort $(wildcard labs/[0-9][0-9]-*))
LAB_SRCS := $(wildcard $(addsuffix /*.c,$(LAB_DIRS)))
PROGS    := $(patsubst labs/%.c,$(BUILD)/%,$(LAB_SRCS))
COMMON   := $(BUILD)/common/common.o

.PHONY: all help labs test memcheck sanitize expected clean FORCE bench
.DEFAULT_GOAL := help

all: $(PROGS)

# -MMD -MP: every header a program includes is a dependency (build/.../prog.d).
$(COMMON): labs/common/common.c labs/common/common.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%: labs/%.c $(COMMON)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -MF $@.d -o $@ $< $(COMMON) $(LDFLAGS) $(LDLIBS)

-include $(PROGS:=.d) $(COMMON:.o=.d)

help:
	@echo "mmap-labs: make Linux shared memory visible, one small program at a time."
	@echo
	@echo "  make lab-N        build and run lab N (lab-3 and lab-03 both work; ARGS=... passes arguments)"
	@echo "  make labs         run every lab"
	@echo "  make test         build everything and run the harness (installs python3-pytest if needed)"
	@echo "  make memcheck     every lab under valgrind memcheck"
	@echo "  make sanitize     every lab built with ASan+UBSan, through the harness"
	@echo "  make expected LAB=N [VARIANT=name]   rewrite lab N's transcript(s) for review"
	@echo "  make handout      write the student tree to $(BUILD)/handout/ and check it (harness/GRADING.md)"
	@echo "  make grade [SUBMISSION=dir] [LABS=9,10] [EXPECTED=dir]   grade this tree or a student's copy"
	@echo "  make grade-all SUBMISSIONS=dir [-j N]   grade every submission in a folder, into a gradebook"
	@echo "  make clean        remove $(BUILD)/"
	@echo
	@echo "Labs (read notes/NN-slug.md beside labs/NN-slug/):"
	@for d in $(LAB_DIRS); do \
	  n=$${d#labs/}; num=$${n%%-*}; \
	  t=$$(sed -n 's/^#define LAB_TITLE "\(.*\)"$$/\1/p' $$d/*.c | head -n 1); \
	  printf '  lab-%-3s %-28s %s\n' "$$(expr $$num + 0)" "$$n" "$$t"; \
	done

# Build one lab's programs, then run its entry program in a fresh directory.
lab-%: FORCE
	@d=$$(sh harness/labdir.sh '$*') || exit 2; \
	$(MAKE) --no-print-directory $$(for c in $$d/*.c; do p=$${c#labs/}; echo "$(BUILD)/$${p%.c}"; done) && \
	sh harness/run-lab.sh "$$d" $(ARGS)

labs: all
	@status=0; for d in $(LAB_DIRS); do sh harness/run-lab.sh "$$d" || status=1; echo; done; exit $$status

test: all
	@sh harness/need.sh pytest
	@$(NEED_BWRAP)
	$(PYTHON) -m pytest -p no:cacheprovider --basetemp=$(BUILD)/pytest harness $(PYTEST_ARGS)

# Built apart, after valgrind is here: common.c quiets deliberate probes through <valgrind/valgrind.h>.
memcheck:
	@sh harness/need.sh valgrind
	@$(MAKE) --no-print-directory all BUILD=$(BUILD)/memcheck
	BUILD=$(BUILD)/memcheck $(PYTHON) harness/mmaplabs.py memcheck $(LAB)

SANITIZE_CFLAGS = -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror

# The labs' transcript tests with every program built with ASan and UBSan.
sanitize:
	@sh harness/need.sh pytest
	@$(MAKE) --no-print-directory all BUILD=$(BUILD)/sanitize CFLAGS="$(SANITIZE_CFLAGS)"
	BUILD=$(BUILD)/sanitize $(PYTHON) -m pytest -p no:cacheprovider --basetemp=$(BUILD)/pytest harness/test_labs.py $(PYTEST_ARGS)

expected: all
	@test -n "$(LAB)" || { echo "usage: make expected LAB=N [VARIANT=name] [ARGS='...']"; exit 2; }
	$(PYTHON) harness/mmaplabs.py expected '$(LAB)' $(if $(VARIANT),--variant '$(VARIANT)') $(if $(ARGS),--args='$(ARGS)')

# Grading: harness/grade.py, sandboxed by harness/sandbox.py; see harness/GRADING.md.
.PHONY: handout grade grade-all
NEED_BWRAP = sh harness/need.sh bubblewrap || echo "(no bubblewrap: grading uses a weaker sandbox and says which)" >&2
GRADE_OPTS = $(if $(LABS),--labs '$(LABS)') $(if $(EXPECTED),--expected '$(EXPECTED)')

handout: all
	@$(NEED_BWRAP)
	$(PYTHON) harness/grade.py handout $(if $(EXPECTED),--expected '$(EXPECTED)')

grade: all
	@$(NEED_BWRAP)
	$(PYTHON) harness/grade.py grade $(GRADE_OPTS) $(if $(SUBMISSION),--submission '$(SUBMISSION)')

grade-all: all
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade-all SUBMISSIONS=dir [-j N]" >&2; exit 2; }
	@$(NEED_BWRAP)
	$(PYTHON) harness/grade.py all $(GRADE_OPTS) -j $(or $(JOBS),$(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),1) '$(SUBMISSIONS)'

clean:
	rm -rf $(BUILD)

FORCE:

# ---- BENCH (lab 16): shared memory against pipes, sockets, queues and memcpy, measured ----
# `make bench` runs labs/16-speed in bench mode (under two minutes), prints tables, ratios,
# verdicts on the source notes' claims and PASS/MISS per target, and writes
# $(BUILD)/bench/results.csv and, with gnuplot, $(BUILD)/bench/throughput.png.
# Producer and consumer are pinned to CPUs 0 and 1; `make bench PIN=` leaves them to the
# scheduler.  ARGS=... passes more options (--reps N, --ring-kib N, --chunk-kib N).
# Exit status: non-zero only when a channel delivered wrong data or timed out (a MISS is not an error).
PIN ?= --pin
bench: $(BUILD)/16-speed/speed
	@mkdir -p $(BUILD)/bench
	@out=$$(cd $(BUILD)/bench && pwd); prog=$$(cd $(BUILD)/16-speed && pwd)/speed; \
	work=$$(mktemp -d "$${TMPDIR:-/tmp}/mmaplab-bench.XXXXXX") || exit 2; rm -f "$$out/throughput.gp"; \
	(cd "$$work" && "$$prog" --bench $(PIN) --csv "$$out/results.csv" --gnuplot "$$out/throughput.gp" $(ARGS)); \
	status=$$?; rm -rf "$$work"; \
	if [ -s "$$out/throughput.gp" ]; then \
	  if command -v gnuplot >/dev/null 2>&1; then \
	    gnuplot "$$out/throughput.gp" && echo "plot: $(BUILD)/bench/throughput.png (throughput vs message size, log axes)"; \
	  else \
	    echo "plot: gnuplot is not installed; apt-get install gnuplot-nox, then: gnuplot $(BUILD)/bench/throughput.gp"; \
	  fi; \
	fi; \
	exit $$status
