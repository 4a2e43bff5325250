# mmap-labs: small C experiments that make Linux shared memory visible.
# `make help` lists what is here.  The labs themselves are described once,
# in labs/labs.mk (folder, title, programs); this file only builds and runs them.

CC       ?= cc
# Yours to change (make CFLAGS=-O0 ...): optimisation, debug info, sanitizers.
CFLAGS   ?= -O2 -g
# Always there, whatever CFLAGS says: the language and the warnings are the rules.
LAB_CFLAGS   := -std=c11 -Wall -Wextra -Werror
LAB_CPPFLAGS := -D_GNU_SOURCE -Ilabs/common
LDLIBS   ?= -lpthread -lrt
BUILD    ?= build
# Debian's python3-pytest serves /usr/bin/python3, whatever `python3` is first on PATH.
PYTHON   ?= /usr/bin/python3
PYTEST_ARGS ?=
export BUILD PYTHON

# V=1 shows the full compiler command lines.
ifeq ($(V),1)
Q :=
say_cc =
else
Q := @
say_cc = @printf '  %-5s %s\n' $(1) $(2);
endif

include labs/labs.mk

ALL_CFLAGS   = $(CFLAGS) $(LAB_CFLAGS)
ALL_CPPFLAGS = $(LAB_CPPFLAGS) $(CPPFLAGS)

# A change of compiler or flags rebuilds everything: the line below is kept in
# $(BUILD)/.flags, rewritten only when it changes, and every object depends on it.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_LINE  := $(CC) | $(ALL_CPPFLAGS) | $(ALL_CFLAGS) | $(LDFLAGS) | $(LDLIBS)
ifeq ($(filter-out help clean,$(or $(MAKECMDGOALS),help)),)
else ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_LINE))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_STAMP),$(FLAGS_LINE))
endif

# labs/common/*.c: linked into every program.
COMMON_OBJS := $(patsubst labs/%.c,$(BUILD)/%.o,$(wildcard labs/common/*.c))

# One lab ($1 = NN-slug): each program in $1.programs is built from its own .c
# plus every other .c of the folder; LAB_NUMBER and LAB_TITLE come from labs.mk.
define lab-rules
$1.shared := $$(filter-out $$(patsubst %,labs/$1/%.c,$$($1.programs)),$$(wildcard labs/$1/*.c))
$1.bins   := $$(addprefix $(BUILD)/$1/,$$($1.programs))
PROGS     += $$($1.bins)
OBJS      += $$(patsubst labs/%.c,$(BUILD)/%.o,$$(wildcard labs/$1/*.c))
$(BUILD)/$1/%.o: LAB_DEFS = -DLAB_NUMBER='"$(firstword $(subst -, ,$1))"' -DLAB_TITLE='"$$($1.title)"'
$$($1.bins): $(BUILD)/$1/%: $(BUILD)/$1/%.o $$(patsubst labs/%.c,$(BUILD)/%.o,$$($1.shared)) $(COMMON_OBJS)
	$$(call say_cc,LD,$$@)
	$(Q)$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach l,$(ALL_LABS),$(eval $(call lab-rules,$l)))
OBJS += $(COMMON_OBJS)

$(BUILD)/%.o: labs/%.c $(FLAGS_STAMP) labs/labs.mk
	@mkdir -p $(@D)
	$(call say_cc,CC,$@)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(LAB_DEFS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(FLAGS_STAMP):
	@mkdir -p $(@D)
	@printf '%s\n' '$(FLAGS_LINE)' > $@

-include $(OBJS:.o=.d)

.PHONY: all help labs test memcheck sanitize expected clean FORCE bench
.DEFAULT_GOAL := help

all: $(PROGS)

# "03" or "3" -> 03-shared-private; empty when there is no such lab.
nodigits = $(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$1))))))))))
lab_num  = $(if $1,$(if $(call nodigits,$1),,$(if $(filter 1 2 3 4 5 6 7 8 9,$1),0$1,$1)))
lab_slug = $(if $(call lab_num,$1),$(filter $(call lab_num,$1)-%,$(ALL_LABS)))
lab_prog = $(BUILD)/$1/$(firstword $($1.programs))

help:
	@echo "mmap-labs: make Linux shared memory visible, one small program at a time."
	@echo
	@echo "  make lab-N        build and run lab N (lab-3 and lab-03 both work; ARGS=... passes arguments)"
	@echo "  make labs         run every lab"
	@echo "  make test         build everything and run the harness (installs python3-pytest if needed)"
	@echo "  make try LAB=N    write lab N's exercise to try/NN-slug/ for you to complete (make reset LAB=N: start again)"
	@echo "  make check [LAB=N]   build and grade your try/ copy against the transcripts; make answer LAB=N: the reference"
	@echo "  make memcheck     every lab under valgrind memcheck"
	@echo "  make sanitize     every lab built with ASan+UBSan, through the harness"
	@echo "  make expected LAB=N [VARIANT=name]   rewrite lab N's transcript(s) for review"
	@echo "  make bench        measure shared memory against pipes, sockets and memcpy (notes/16-speed.md)"
	@echo "  make handout      write the student tree to $(BUILD)/handout/ and check it (harness/GRADING.md)"
	@echo "  make grade [SUBMISSION=dir] [LABS=9,10] [EXPECTED=dir]   grade this tree or a student's copy"
	@echo "  make grade-all SUBMISSIONS=dir [-j N]   grade every submission in a folder, into a gradebook"
	@echo "  make gradescope   build the Gradescope autograder zip (GRADE_SECRET=, EXPECTED=; harness/GRADING.md)"
	@echo "  make mutants [LAB=N]   break each lab's mechanism on purpose; every ok: line must turn NOT OK"
	@echo "  make test-kernel KVER=...   the transcript tests on a Debian kernel under qemu (harness/kernel/README.md)"
	@echo "  make clean        remove $(BUILD)/"
	@echo "  CC=, CFLAGS= change the build (the warnings and -std=c11 stay); V=1 shows compiler commands"
	@echo
	@echo "Labs (read notes/NN-slug.md beside labs/NN-slug/):"
	@$(foreach l,$(ALL_LABS),printf '  lab-%-3s %-22s %s\n' '$(patsubst 0%,%,$(firstword $(subst -, ,$l)))' '$l' '$($l.title)';)

# Build one lab's programs, then run its first program in a fresh directory.
.SECONDEXPANSION:
lab-%: $$($$(call lab_slug,$$*).bins) FORCE
	@$(if $(call lab_num,$*),,echo "no lab '$*': labs are numbered; 'make help' lists them" >&2; exit 2)
	@$(if $(call lab_slug,$*),,echo "no lab $*: 'make help' lists the labs" >&2; exit 2)
	@sh harness/run-lab.sh $(call lab_prog,$(call lab_slug,$*)) $(ARGS)

labs: all
	@status=0; $(foreach l,$(ALL_LABS),sh harness/run-lab.sh $(call lab_prog,$l) || status=1; echo;) exit $$status

# The tests run in TEST_WORKERS processes (Debian's python3-pytest-xdist, installed like pytest;
# harness/conftest.py keeps the tests of one expensive fixture in one worker).  TEST_WORKERS=0: serially.
# As many as the CPUs: with the supervisor in C the tests are bound by CPU, not by waiting (on 2 CPUs,
# 2 workers: 12.8-14.7 s and 22-26 CPU-s in 5 runs; 3: 14.4-18.0 s and 26-30 CPU-s in 8; 4: 15.7 s;
# serially 20.4 s).  More workers load the machine more, so the tests' time limits, scaled by the
# load they measure, grow, and the endless hostile programs spin longer.  With the tests' folders
# in /dev/shm (conftest.py), 3 workers against 2 on a built tree, 4 alternated pairs 20 s apart:
# 9.1-11.1 s and 16.5-19.8 CPU-s against 9.2-10.8 s and 15.2-18.1 CPU-s (2 earlier pairs: 9.5 s
# against 9.9-10.0 s); no steady gain, so 2 stay.
# As an ordinary user, serially by default: every run then has the same uid, and a run's leftover
# sweep cannot tell an untokened object of a test running beside it from its own (two of three
# parallel runs as uid 65534 failed that way; serially 29.9 s against 26-35 s in parallel).
TEST_WORKERS ?= $(shell [ "$$(id -u)" = 0 ] && echo $$(nproc 2>/dev/null || echo 1) || echo 0)
# need.sh pytest-xdist looks for pytest and xdist both: one check, not two.
# The tests' Python bytecode is kept in $(BUILD)/pycache, never beside the sources, and written
# even where PYTHONDONTWRITEBYTECODE is set (as it is on some CI machines): without it pytest
# rewrites the test modules' asserts again in each worker (collecting: 0.80 -> 0.46 CPU-s a
# process) and each of the ~30 Python processes the tests start compiles the harness again
# (grade.py --help: 121 -> 110 ms).  Whole runs, alternated 40 s apart: 23.0-23.8 -> 20.6-22.7
# CPU-s (3 pairs), but this machine's own speed moves by as much between runs.  The first run
# after `make clean` writes it (8.9 MiB).
TEST_PYCACHE = PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(abspath $(BUILD))/pycache
# The build first, on every CPU unless make was given -j (from a fresh clone, on 2 CPUs:
# 5.1 -> 2.5 s).  The tests' own folders go in /dev/shm where it can be had (conftest.py);
# PYTEST_ARGS=--basetemp=DIR keeps them after the run, in DIR.
TEST_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 1))
test:
	@$(MAKE) --no-print-directory $(TEST_JOBS) all
	@$(NEED_BWRAP)
	@workers=$(TEST_WORKERS); xdist=; \
	if [ "$$workers" != 0 ] && sh harness/need.sh pytest-xdist; then xdist="-n $$workers --dist loadgroup"; \
	else [ "$$workers" = 0 ] || echo "(the tests run one at a time: slower)" >&2; sh harness/need.sh pytest || exit 1; fi; \
	set -x; $(TEST_PYCACHE) $(PYTHON) -m pytest -p no:cacheprovider $$xdist harness $(PYTEST_ARGS)

# Self-study (harness/selfstudy.py): lab N's exercise in try/NN-slug/ (yours: git ignores it and
# `make clean` keeps it), graded by the grader's own build, runs and feedback.
.PHONY: try check reset answer
try reset answer:
	@$(PYTHON) harness/selfstudy.py $@ '$(LAB)'

check: all
	@$(NEED_BWRAP)
	@$(PYTHON) harness/selfstudy.py check '$(LAB)'

# Built apart, after valgrind is here: common.c quiets deliberate probes through <valgrind/valgrind.h>.
memcheck:
	@sh harness/need.sh valgrind
	@$(MAKE) --no-print-directory all BUILD=$(BUILD)/memcheck
	BUILD=$(BUILD)/memcheck $(PYTHON) harness/mmaplabs.py memcheck $(LAB)

SANITIZE_CFLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

# The labs' transcript tests with every program built with ASan and UBSan.
sanitize:
	@sh harness/need.sh pytest
	@$(MAKE) --no-print-directory all BUILD=$(BUILD)/sanitize CFLAGS="$(SANITIZE_CFLAGS)"
	BUILD=$(BUILD)/sanitize $(PYTHON) -m pytest -p no:cacheprovider --basetemp=$(BUILD)/pytest harness/test_labs.py $(PYTEST_ARGS)

expected: all
	@test -n "$(LAB)" || { echo "usage: make expected LAB=N [VARIANT=name] [ARGS='...']"; exit 2; }
	$(PYTHON) harness/mmaplabs.py expected '$(LAB)' $(if $(VARIANT),--variant '$(VARIANT)') $(if $(ARGS),--args='$(ARGS)')

# Grading: harness/grade.py, run in the sandbox by harness/runner.py; see harness/GRADING.md.
.PHONY: handout grade grade-all
NEED_BWRAP = sh harness/need.sh bubblewrap || echo "(no bubblewrap: grading uses a weaker sandbox and says which)" >&2; \
	sh harness/need.sh strace || echo "(no strace: system-call signatures cannot be checked; the grader says so)" >&2
GRADE_OPTS = $(if $(LABS),--labs '$(LABS)') $(if $(EXPECTED),--expected '$(EXPECTED)')

handout: all
	@$(NEED_BWRAP)
	$(PYTHON) harness/grade.py handout $(if $(EXPECTED),--expected '$(EXPECTED)')

grade: all
	@$(NEED_BWRAP)
	$(PYTHON) harness/grade.py grade $(GRADE_OPTS) $(if $(SUBMISSION),--submission '$(SUBMISSION)')

# The Gradescope autograder zip (setup.sh, run_autograder, the tree, hidden transcripts, the secret).
.PHONY: gradescope
gradescope: all
	$(PYTHON) harness/gradescope/build.py $(if $(EXPECTED),--expected '$(EXPECTED)')

grade-all: all
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade-all SUBMISSIONS=dir [-j N]" >&2; exit 2; }
	@$(NEED_BWRAP)
	$(PYTHON) harness/grade.py all $(GRADE_OPTS) -j $(or $(JOBS),$(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),1) '$(SUBMISSIONS)'

# Grade one class (reference, handout, two partial submissions) N times and compare the gradebooks;
# FORK_BOMB=1: a fork bomb graded alongside all the while; LABS=14,16 only those labs; COLD=1 forget the
# cached reference runs, RECALIBRATE=1 their calibrated times too, before each grading (harness/regrade.py, harness/GRADING.md).
.PHONY: regrade
regrade: all
	@$(NEED_BWRAP)
	$(PYTHON) harness/regrade.py $(if $(N),-n '$(N)') $(if $(FORK_BOMB),--fork-bomb) $(if $(LABS),--labs '$(LABS)') $(if $(COLD),--cold) $(if $(RECALIBRATE),--recalibrate)

# Every ok: line can fail: build each lab's mutants (labs/NN-slug/lab.toml) and
# check each one breaks the step it names (harness/mutants.py).  LAB=N: one lab.
.PHONY: mutants
mutants: all
	$(PYTHON) harness/mutants.py $(if $(LAB),--lab '$(LAB)')

# The transcript tests inside a Debian kernel under qemu (harness/kernel/README.md).
.PHONY: test-kernel
test-kernel:
	@test -n "$(KVER)" || { echo "usage: make test-kernel KVER=6.1.0-47-amd64 [USERS=root,user|root|user] [PYTEST_ARGS=...]" >&2; exit 2; }
	sh harness/kernel/test-kernel.sh '$(KVER)' '$(USERS)' $(if $(PYTEST_ARGS),'$(PYTEST_ARGS)')

clean:
	rm -rf $(BUILD)

FORCE:

# ---- BENCH (lab 16): shared memory against pipes, sockets, queues and memcpy, measured ----
# `make bench` times lab 16's channels and experiments (under two minutes on 2 CPUs), every channel with
# both processes on one CPU, on two CPUs and where the scheduler puts them, and prints tables, the
# physical ceilings, a chart, verdicts on the source notes' claims (each channel in its best placement)
# and PASS/MISS per target; it writes $(BUILD)/bench/results.csv and $(BUILD)/bench/throughput.png.
# The PNG needs gnuplot: as root `make bench` installs Debian's gnuplot-nox (as `make test` installs
# pytest), otherwise it prints the command; the chart in the terminal is printed either way.
# LMBENCH=dir runs lmbench's bw_pipe, bw_unix, lat_pipe and lat_unix from dir beside ours, in the same
# placements (notes/16-speed.md says how to build lmbench; it is not part of this project).
# ARGS=... passes more options (--reps N, --ring-kib N, --chunk-kib N).
# Exit status: non-zero only when a channel delivered wrong data or timed out (a MISS is not an error).
#
# The tool is harness/bench/*.c (the method: rounds, placements, statistics, tables, CSV, charts,
# verdicts) linked with the lab's own shared sources (labs/16-speed: channels, rings, runs, pages), so
# the bench measures exactly the code the lab checks.  `make all` builds it too, so it never rots.
BENCH_LAB  := 16-speed
BENCH_BIN  := $(BUILD)/bench/speed-bench
BENCH_OBJS := $(patsubst harness/bench/%.c,$(BUILD)/bench/%.o,$(wildcard harness/bench/*.c))
BENCH_DEFS := -Ilabs/$(BENCH_LAB) -DLAB_NUMBER='"$(firstword $(subst -, ,$(BENCH_LAB)))"' -DLAB_TITLE='"$($(BENCH_LAB).title)"'

$(BUILD)/bench/%.o: harness/bench/%.c $(FLAGS_STAMP) labs/labs.mk
	@mkdir -p $(@D)
	$(call say_cc,CC,$@)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(BENCH_DEFS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# $(BENCH_LAB).shared: the lab's sources that are not programs (from lab-rules above).
$(BENCH_BIN): $(BENCH_OBJS) $(patsubst labs/%.c,$(BUILD)/%.o,$($(BENCH_LAB).shared)) $(COMMON_OBJS)
	$(call say_cc,LD,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm

-include $(BENCH_OBJS:.o=.d)

all: $(BENCH_BIN)

# gnuplot for the PNG: installed as root (Debian's gnuplot-nox), otherwise the exact command.
BENCH_NEED_GNUPLOT = command -v gnuplot >/dev/null 2>&1 || { \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's gnuplot-nox (for the PNG) ..." >&2; export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y -q gnuplot-nox >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q gnuplot-nox >/dev/null; }; } \
	    || echo "could not install gnuplot-nox: run  apt-get update && apt-get install -y gnuplot-nox" >&2; \
	else \
	  echo "gnuplot is missing: no PNG this time (the chart below is in the terminal). For the PNG:" >&2; \
	  echo "    sudo apt-get install -y gnuplot-nox" >&2; \
	fi; }

bench: $(BENCH_BIN)
	@$(BENCH_NEED_GNUPLOT)
	@out=$$(cd $(BUILD)/bench && pwd); prog=$$out/$(notdir $(BENCH_BIN)); \
	work=$$(mktemp -d "$${TMPDIR:-/tmp}/mmaplab-bench.XXXXXX") || exit 2; rm -f "$$out/throughput.gp" "$$out/throughput.png"; \
	(cd "$$work" && "$$prog" --csv "$$out/results.csv" --gnuplot "$$out/throughput.gp" $(if $(LMBENCH),--lmbench '$(LMBENCH)') $(ARGS)); \
	status=$$?; rm -rf "$$work"; \
	if [ -s "$$out/throughput.gp" ] && command -v gnuplot >/dev/null 2>&1; then \
	  gnuplot "$$out/throughput.gp" && echo "PNG: $(BUILD)/bench/throughput.png (the chart above, log axes, min..max bars)"; \
	elif [ -s "$$out/throughput.gp" ]; then \
	  echo "PNG: not drawn (no gnuplot); sudo apt-get install -y gnuplot-nox, then: gnuplot $(BUILD)/bench/throughput.gp"; \
	fi; \
	exit $$status
