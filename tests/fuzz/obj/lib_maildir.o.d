/work/main/tests/fuzz/obj/lib_maildir.o: /work/main/src/sink/maildir.c \
  /work/main/config.h /work/main/src/sink/maildir.h \
  /work/main/src/lib/error.h /work/main/src/sink/sink.h \
  /work/main/src/lib/fileio.h /work/main/src/sink/maildir_flags.h \
  /work/main/src/sink/sink_batch.h /work/main/src/lib/testhook.h \
  /work/main/src/lib/text.h
