/work/main/tests/fuzz/obj/lib_text.o: /work/main/src/lib/text.c \
  /work/main/config.h /work/main/src/lib/text.h
