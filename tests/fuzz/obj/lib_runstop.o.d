/work/main/tests/fuzz/obj/lib_runstop.o: /work/main/src/run/runstop.c \
  /work/main/config.h /work/main/src/run/runstop.h \
  /work/main/src/lib/error.h
