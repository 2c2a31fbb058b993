/work/main/tests/fuzz/obj/lib_state.o: /work/main/src/state/state.c \
  /work/main/config.h /work/main/src/state/state.h \
  /work/main/src/lib/error.h /work/main/src/lib/fileio.h \
  /work/main/src/lib/log.h /work/main/src/lib/name_set.h \
  /work/main/src/lib/safedir.h /work/main/src/state/state_record.h \
  /work/main/src/lib/testhook.h /work/main/src/lib/text.h
