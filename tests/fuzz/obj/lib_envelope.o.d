/work/main/tests/fuzz/obj/lib_envelope.o: /work/main/src/sink/envelope.c \
  /work/main/config.h /work/main/src/sink/envelope.h
