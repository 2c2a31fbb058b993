/work/main/tests/fuzz/obj/lib_mbox.o: /work/main/src/sink/mbox.c \
  /work/main/config.h /work/main/src/sink/mbox.h \
  /work/main/src/lib/error.h /work/main/src/sink/sink.h \
  /work/main/src/lib/clock.h /work/main/src/sink/envelope.h \
  /work/main/src/lib/fileio.h /work/main/src/lib/log.h \
  /work/main/src/sink/sink_batch.h /work/main/src/lib/testhook.h \
  /work/main/src/lib/text.h
