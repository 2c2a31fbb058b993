/work/main/tests/fuzz/obj/lib_oauth2_preset.o: \
  /work/main/src/config/oauth2_preset.c /work/main/config.h \
  /work/main/src/config/oauth2_preset.h /work/main/src/lib/text.h
