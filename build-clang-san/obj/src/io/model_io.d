build-clang-san/obj/src/io/model_io.o: src/io/model_io.c \
  src/engine/engine.h src/nn/nn.h src/core/core.h include/bpfree.h \
  src/optim/optim.h src/rules/rules.h

src/engine/engine.h:

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:

src/optim/optim.h:

src/rules/rules.h:
