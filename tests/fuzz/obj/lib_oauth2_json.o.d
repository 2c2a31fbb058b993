/work/main/tests/fuzz/obj/lib_oauth2_json.o: \
  /work/main/src/oauth2/oauth2_json.c /work/main/config.h \
  /work/main/src/oauth2/oauth2_json.h /work/main/src/lib/text.h
