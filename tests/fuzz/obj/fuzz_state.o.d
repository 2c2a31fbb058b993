/work/main/tests/fuzz/obj/fuzz_state.o: \
  /work/main/tests/fuzz/fuzz_state.c /work/main/config.h \
  /work/main/tests/fuzz/fuzz.h /work/main/src/lib/error.h \
  /work/main/src/state/state.h
