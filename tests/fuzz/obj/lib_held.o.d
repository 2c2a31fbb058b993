/work/main/tests/fuzz/obj/lib_held.o: /work/main/src/run/held.c \
  /work/main/config.h /work/main/src/run/held.h \
  /work/main/src/lib/error.h /work/main/src/sink/sink.h
