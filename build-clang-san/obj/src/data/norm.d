build-clang-san/obj/src/data/norm.o: src/data/norm.c src/core/core.h \
  include/bpfree.h

src/core/core.h:

include/bpfree.h:
