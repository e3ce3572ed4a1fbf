# The two commands a newcomer needs: `make demo` and `make test`. Both install what is missing
# (scripts/setup.sh), build, and run. `make` alone builds build/freshet (Release, x86-64-v3).

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all setup demo test tsan bench clean

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
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L concurrent $(CTEST_ARGS)

bench: all
	cmake --build $(BUILD) -j $(JOBS)
	$(BUILD)/bench/store_bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
