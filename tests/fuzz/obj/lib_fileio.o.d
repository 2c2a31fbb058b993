/work/main/tests/fuzz/obj/lib_fileio.o: /work/main/src/lib/fileio.c \
  /work/main/config.h /work/main/src/lib/fileio.h \
  /work/main/src/lib/error.h
