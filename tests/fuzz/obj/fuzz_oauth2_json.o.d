/work/main/tests/fuzz/obj/fuzz_oauth2_json.o: \
  /work/main/tests/fuzz/fuzz_oauth2_json.c /work/main/config.h \
  /work/main/tests/fuzz/fuzz.h /work/main/src/lib/error.h \
  /work/main/src/oauth2/oauth2_json.h /work/main/src/lib/text.h
