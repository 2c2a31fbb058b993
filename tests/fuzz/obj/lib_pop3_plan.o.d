/work/main/tests/fuzz/obj/lib_pop3_plan.o: /work/main/src/run/pop3_plan.c \
  /work/main/config.h /work/main/src/run/pop3_plan.h
