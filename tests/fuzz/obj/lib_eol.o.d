/work/main/tests/fuzz/obj/lib_eol.o: /work/main/src/lib/eol.c \
  /work/main/config.h /work/main/src/lib/eol.h
