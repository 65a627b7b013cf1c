build-clang-san/obj/src/core/par.o: src/core/par.c src/core/core.h \
  include/bpfree.h

src/core/core.h:

include/bpfree.h:
