build-clang-san/obj/src/nn/dense.o: src/nn/dense.c src/nn/nn.h \
  src/core/core.h include/bpfree.h

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:
