/work/main/tests/fuzz/obj/lib_safedir.o: /work/main/src/lib/safedir.c \
  /work/main/config.h /work/main/src/lib/safedir.h \
  /work/main/src/lib/error.h /work/main/src/lib/fileio.h
