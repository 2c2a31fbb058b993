/work/main/tests/fuzz/obj/lib_wipe.o: /work/main/src/lib/wipe.c \
  /work/main/config.h /work/main/src/lib/wipe.h
