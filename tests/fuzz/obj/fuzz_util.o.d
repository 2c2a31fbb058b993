/work/main/tests/fuzz/obj/fuzz_util.o: /work/main/tests/fuzz/fuzz_util.c \
  /work/main/config.h /work/main/tests/fuzz/fuzz.h \
  /work/main/src/lib/error.h /work/main/src/run/folder_path.h
