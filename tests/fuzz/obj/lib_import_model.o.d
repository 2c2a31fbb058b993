/work/main/tests/fuzz/obj/lib_import_model.o: \
  /work/main/src/config/import_model.c /work/main/config.h \
  /work/main/src/config/import_model.h /work/main/src/lib/error.h \
  /work/main/src/lib/grow.h /work/main/src/lib/text.h
