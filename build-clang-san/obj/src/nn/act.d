build-clang-san/obj/src/nn/act.o: src/nn/act.c src/nn/nn.h \
  src/core/core.h include/bpfree.h

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:
