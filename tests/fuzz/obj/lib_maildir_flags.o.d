/work/main/tests/fuzz/obj/lib_maildir_flags.o: \
  /work/main/src/sink/maildir_flags.c /work/main/config.h \
  /work/main/src/sink/maildir_flags.h /work/main/src/lib/error.h \
  /work/main/src/sink/sink.h /work/main/src/lib/fileio.h \
  /work/main/src/lib/grow.h /work/main/src/lib/text.h
