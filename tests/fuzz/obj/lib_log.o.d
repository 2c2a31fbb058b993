/work/main/tests/fuzz/obj/lib_log.o: /work/main/src/lib/log.c \
  /work/main/config.h /work/main/src/lib/log.h \
  /work/main/src/lib/progress.h
