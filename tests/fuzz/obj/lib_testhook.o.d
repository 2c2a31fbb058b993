/work/main/tests/fuzz/obj/lib_testhook.o: /work/main/src/lib/testhook.c \
  /work/main/config.h /work/main/src/lib/testhook.h \
  /work/main/src/lib/text.h
