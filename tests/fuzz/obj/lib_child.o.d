/work/main/tests/fuzz/obj/lib_child.o: /work/main/src/lib/child.c \
  /work/main/config.h /work/main/src/lib/child.h \
  /work/main/src/lib/clock.h
