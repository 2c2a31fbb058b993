/work/main/tests/fuzz/obj/lib_import_yaml.o: \
  /work/main/src/config/import_yaml.c /work/main/config.h \
  /work/main/src/lib/grow.h /work/main/src/config/import_model.h \
  /work/main/src/lib/error.h /work/main/src/lib/text.h
