/work/main/tests/fuzz/obj/lib_progress.o: /work/main/src/lib/progress.c \
  /work/main/config.h /work/main/src/lib/progress.h \
  /work/main/src/lib/clock.h
