build-clang-san/obj/src/core/names.o: src/core/names.c src/core/core.h \
  include/bpfree.h

src/core/core.h:

include/bpfree.h:
