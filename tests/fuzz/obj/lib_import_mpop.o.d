/work/main/tests/fuzz/obj/lib_import_mpop.o: \
  /work/main/src/config/import_mpop.c /work/main/config.h \
  /work/main/src/config/import_lex.h /work/main/src/lib/error.h \
  /work/main/src/config/import_model.h
