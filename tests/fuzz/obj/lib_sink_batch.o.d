/work/main/tests/fuzz/obj/lib_sink_batch.o: \
  /work/main/src/sink/sink_batch.c /work/main/config.h \
  /work/main/src/sink/sink_batch.h /work/main/src/sink/sink.h \
  /work/main/src/lib/error.h
