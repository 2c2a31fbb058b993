/work/main/tests/fuzz/obj/lib_grow.o: /work/main/src/lib/grow.c \
  /work/main/config.h /work/main/src/lib/grow.h
