build-clang-san/obj/src/optim/optim.o: src/optim/optim.c \
  src/optim/optim.h src/core/core.h include/bpfree.h

src/optim/optim.h:

src/core/core.h:

include/bpfree.h:
