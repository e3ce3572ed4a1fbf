# The two commands a newcomer needs: `make demo` and `make test`. Both install what is missing
# (scripts/setup.sh), build, and run. `make` alone builds build/freshet (Release, x86-64-v3).

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
# The test binaries that hold tests labelled 'concurrent' (make tsan builds only these).
TSAN_TARGETS = store_test nn_concurrent_test eval_test model_concurrent_test \
               feature_concurrent_test search_concurrent_test serve_concurrent_test \
               http_concurrent_test index_concurrent_test stream_concurrent_test \
               rank_concurrent_test
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all setup demo test tsan fuzz bench clean

all: setup
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) --target freshet -j $(JOBS)

setup:
	@scripts/setup.sh

demo: all
	scripts/demo.sh $(BUILD)/freshet

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer. .ci/run calls this.
test: setup
	@[ -f $(ASAN_BUILD)/build.ninja ] || cmake -S . -B $(ASAN_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=Debug -DFRESHET_SANITIZE=ON -DFRESHET_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g"
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The concurrent paths under ThreadSanitizer.
tsan: setup
	@[ -f $(TSAN_BUILD)/build.ninja ] || cmake -S . -B $(TSAN_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=Debug -DFRESHET_TSAN=ON -DFRESHET_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g"
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(TSAN_TARGETS)
	cd $(TSAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L concurrent $(CTEST_ARGS)

# libFuzzer (clang) on the HTTP request parser and the event JSON decoder, FUZZ_SECONDS each.
# New inputs found go to build-fuzz/corpus-*, never into the seed corpus in fuzz/corpus.
fuzz: setup
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -G Ninja \
	  -DCMAKE_BUILD_TYPE=Debug -DFRESHET_FUZZ=ON -DFRESHET_BUILD_TESTS=OFF \
	  -DFRESHET_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g"
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target request_fuzz event_fuzz
	for t in request event; do \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t && \
	  $(FUZZ_BUILD)/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 $(FUZZ_BUILD)/corpus-$$t fuzz/corpus/$$t || exit 1; \
	done

bench: all
	cmake --build $(BUILD) -j $(JOBS)
	$(BUILD)/bench/store_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
