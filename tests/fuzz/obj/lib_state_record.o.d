/work/main/tests/fuzz/obj/lib_state_record.o: \
  /work/main/src/state/state_record.c /work/main/config.h \
  /work/main/src/state/state_record.h /work/main/src/state/state.h \
  /work/main/src/lib/error.h /work/main/src/lib/text.h
