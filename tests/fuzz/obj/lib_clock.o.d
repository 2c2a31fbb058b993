/work/main/tests/fuzz/obj/lib_clock.o: /work/main/src/lib/clock.c \
  /work/main/config.h /work/main/src/lib/clock.h
