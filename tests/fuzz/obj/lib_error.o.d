/work/main/tests/fuzz/obj/lib_error.o: /work/main/src/lib/error.c \
  /work/main/config.h /work/main/src/lib/error.h
