/work/main/tests/fuzz/obj/lib_delivery.o: /work/main/src/run/delivery.c \
  /work/main/config.h /work/main/src/run/delivery.h \
  /work/main/src/lib/error.h /work/main/src/sink/sink.h \
  /work/main/src/state/state.h /work/main/src/lib/eol.h \
  /work/main/src/lib/log.h /work/main/src/run/runstop.h \
  /work/main/src/lib/text.h /work/main/src/lib/testhook.h
