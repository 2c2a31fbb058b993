/work/main/tests/fuzz/obj/lib_name_set.o: /work/main/src/lib/name_set.c \
  /work/main/config.h /work/main/src/lib/name_set.h
