# The two commands: `make run` and `make test`. Everything else is a helper for them.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
DATA_DIR ?= ./var/aegis
FUZZ_SECONDS ?= 60
SOURCES = $(shell git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' 2>/dev/null)

.PHONY: run test test-tsan deps build-release build-test layering-check format format-check fuzz-smoke bench clean

run: deps build-release
	./build/release/server/app/aegisd --data-dir $(DATA_DIR)

test: deps layering-check format-check build-test
	ctest --preset asan-ubsan -j $(JOBS)

# ThreadSanitizer over the concurrent modules (the network runtime and the broker).
test-tsan: deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS) -L 'net|broker'

deps:
	@bash scripts/install-deps

build-release:
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

build-test:
	cmake --preset asan-ubsan >/dev/null
	cmake --build --preset asan-ubsan -j $(JOBS)

layering-check:
	python3 scripts/check-layering

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(SOURCES) && echo "format-check: $(words $(SOURCES)) files clean"

fuzz-smoke: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)
	bash scripts/fuzz-smoke build/fuzz $(FUZZ_SECONDS)

bench: deps build-release
	bash bench/run

clean:
	rm -rf build
