build-clang-san/obj/src/nn/layer.o: src/nn/layer.c src/nn/nn.h \
  src/core/core.h include/bpfree.h

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:
